/**
 * Replica counts of phaseflow's streams and KV buckets: the check an existing resource
 * must pass when a replica count was asked for, and the translation of the server's
 * "cannot place that many replicas" refusals into `ReplicasUnavailableError`.
 * Changing the count of existing resources is `setup.ts` (`phaseflow nats-setup`).
 */
import { JetStreamApiError, type StreamInfo } from "@nats-io/jetstream";
import { InfrastructureMismatchError, ReplicasUnavailableError } from "../../errors/base.js";

/** The command that changes the replica count of an existing deployment. */
export function replicasFix(replicas: number, prefix: string): string {
  return `change it with \`phaseflow nats-setup --replicas ${replicas} --nats URL${prefix === "pf" ? "" : ` --prefix ${prefix}`}\` (the server re-replicates in place), or start without --replicas to use it as it is`;
}

/** Throw `InfrastructureMismatchError` when `required` is given and the stream has another replica count. */
export function checkReplicas(info: StreamInfo, resource: string, required: number | undefined, prefix: string): void {
  if (required === undefined) return;
  const found = info.config.num_replicas ?? 1;
  if (found !== required) throw new InfrastructureMismatchError(resource, "replicas", String(found), String(required), replicasFix(required, prefix));
}

/** Replicas > 1 on a server that is not part of a cluster: nats-server 2.9 refuses a create with 10074, but accepts an update. */
export function isClustered(info: StreamInfo): boolean {
  return info.cluster?.name !== undefined && info.cluster.name !== "";
}

/** A `ReplicasUnavailableError` when `err` is the server refusing the replica count, else undefined. */
export function replicasErrorOf(err: unknown, resource: string, replicas: number): ReplicasUnavailableError | undefined {
  if (replicas <= 1 || !(err instanceof JetStreamApiError)) return undefined;
  if (err.code === REPLICAS_NOT_SUPPORTED || err.code === NO_SUITABLE_PEERS) {
    return new ReplicasUnavailableError(resource, replicas, `the server says "${err.message}"`, { cause: err });
  }
  return undefined;
}

// nats-server error codes the client does not name (JetStreamApiCodes has only a few):
/** JSStreamReplicasNotSupportedErr: "replicas > 1 not supported in non-clustered mode". */
const REPLICAS_NOT_SUPPORTED = 10074;
/** JSClusterNoPeersErr: "no suitable peers for placement" (fewer JetStream servers than replicas). */
const NO_SUITABLE_PEERS = 10005;
