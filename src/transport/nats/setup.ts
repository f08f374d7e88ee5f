/**
 * `phaseflow nats-setup`: create phaseflow's streams and KV buckets with a replica
 * count, or change the count of existing ones in place. nats-server re-replicates a
 * stream whose `num_replicas` is updated (up or down) without losing messages, and a
 * KV bucket is the stream `KV_<bucket>`, so both go through a stream update; the
 * namespace consumers follow their stream (they are created with replicas 0 = inherit).
 *
 * nats-server 2.9 accepts `num_replicas: 3` in an update on a server that is not part
 * of a cluster and then keeps one copy while reporting three; we refuse that here.
 * After the change we wait until every replica is current, so the report says what is
 * really replicated.
 */
import { jetstreamManager, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream";
import { TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { ReplicasUnavailableError, TransportOperationError } from "../../errors/base.js";
import { bucketStream, ensureInfrastructure, streamInfo, type InfrastructureSettings } from "./infrastructure.js";
import { openConnection } from "./connect.js";
import { natsNames, type NatsNames } from "./names.js";
import { resolveNatsTransportOptions, type NatsTransportOptions } from "./options.js";
import { isClustered, replicasErrorOf } from "./replicas.js";

export interface ReplicaReport {
  /** e.g. `stream "PF_EVENTS"` or `KV bucket "pf_runs"`. */
  resource: string;
  /** The stream's name (`KV_<bucket>` for a bucket). */
  stream: string;
  /** Replicas before; undefined when this setup created it. */
  before: number | undefined;
  after: number;
  /** Server name of the Raft leader, when clustered. */
  leader: string | undefined;
  /** Server names of the replicas that are current (the leader included). */
  current: string[];
  messages: number;
}

export interface SetupSettings extends InfrastructureSettings {
  replicas: number;
  /** How long to wait for new replicas to catch up. Default 60000. */
  catchUpMs?: number;
}

/**
 * Bring every stream and bucket of the deployment to `settings.replicas`, creating what is missing.
 * Throws `ReplicasUnavailableError` when the server(s) cannot hold that many copies.
 *
 * @example
 * const report = await setupInfrastructure(nc, jsm, natsNames("pf"), { ackWaitMs: 30_000, maxDeliver: 5, workerTtlMs: 60_000, replicas: 3 });
 */
export async function setupInfrastructure(nc: NatsConnection, jsm: JetStreamManager, names: NatsNames, settings: SetupSettings): Promise<ReplicaReport[]> {
  try {
    return await setupAll(nc, jsm, names, settings);
  } catch (err) {
    if (!(err instanceof TimeoutError)) throw err;
    throw new TransportOperationError(
      "NATS_READ_FAILED",
      `the NATS server ${nc.getServer()} did not answer a JetStream request in time: on a cluster, a node may be down or its streams may still be electing leaders (a stream with ${settings.replicas} replicas needs ${settings.replicas} JetStream servers up to be created or changed); check the cluster and run nats-setup again`,
      { cause: err },
    );
  }
}

async function setupAll(nc: NatsConnection, jsm: JetStreamManager, names: NatsNames, settings: SetupSettings): Promise<ReplicaReport[]> {
  const resources = resourcesOf(names);
  const before = new Map<string, number | undefined>();
  for (const r of resources) {
    const info = await streamInfo(jsm, r.stream);
    before.set(r.stream, info?.config.num_replicas);
    if (info === undefined) continue;
    if (settings.replicas > 1 && !isClustered(info)) {
      throw new ReplicasUnavailableError(r.resource, settings.replicas, `the NATS server ${nc.getServer()} is not part of a cluster`);
    }
    if ((info.config.num_replicas ?? 1) === settings.replicas) continue;
    try {
      await jsm.streams.update(r.stream, { num_replicas: settings.replicas });
    } catch (err) {
      throw replicasErrorOf(err, r.resource, settings.replicas) ?? err;
    }
  }
  // Creates what is missing with the count, and checks everything now has it.
  await ensureInfrastructure(nc, jsm, names, settings);
  const deadline = Date.now() + (settings.catchUpMs ?? 60_000);
  const reports: ReplicaReport[] = [];
  for (const r of resources) {
    let info = await jsm.streams.info(r.stream);
    while (currentOf(info).length < settings.replicas && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      info = await jsm.streams.info(r.stream);
    }
    reports.push({
      resource: r.resource,
      stream: r.stream,
      before: before.get(r.stream),
      after: info.config.num_replicas ?? 1,
      leader: info.cluster?.leader,
      current: currentOf(info),
      messages: info.state.messages,
    });
  }
  return reports;
}

function resourcesOf(names: NatsNames): { resource: string; stream: string }[] {
  return [
    { resource: `stream "${names.streams.tasks}"`, stream: names.streams.tasks },
    { resource: `stream "${names.streams.events}"`, stream: names.streams.events },
    { resource: `KV bucket "${names.buckets.runs}"`, stream: bucketStream(names.buckets.runs) },
    { resource: `KV bucket "${names.buckets.workers}"`, stream: bucketStream(names.buckets.workers) },
  ];
}

/** Servers holding a current copy: the leader and every current replica (one copy, unnamed, when not clustered). */
export function currentOf(info: StreamInfo): string[] {
  if (!isClustered(info)) return ["(single server)"];
  const leader = info.cluster?.leader;
  const followers = (info.cluster?.replicas ?? []).filter((p) => p.current && !p.offline).map((p) => p.name);
  return leader === undefined ? followers : [leader, ...followers];
}

/**
 * `phaseflow nats-setup` from connection options: connect, set every stream and bucket
 * to `options.replicas`, report, and close the connection.
 * @example const reports = await setupNatsInfrastructure({ servers: url, replicas: 3 });
 */
export async function setupNatsInfrastructure(options: NatsTransportOptions & { replicas: number }): Promise<ReplicaReport[]> {
  const resolved = resolveNatsTransportOptions(options);
  const nc = await openConnection(resolved);
  try {
    return await setupInfrastructure(nc, await jetstreamManager(nc), natsNames(resolved.prefix), { ...resolved, replicas: options.replicas });
  } finally {
    await nc.close().catch(() => undefined);
  }
}
