/**
 * The JetStream resources phaseflow runs on, created or checked idempotently:
 * - stream <P>_TASKS: work-queue retention (a task is removed once acked), file
 *   storage, subjects `<p>.task.>`, a 2-minute duplicate window for `Nats-Msg-Id`;
 * - stream <P>_EVENTS: limits retention (the durable run history), file storage;
 * - KV `<p>_runs` (run records) and `<p>_workers` (heartbeats). nats-server 2.9 has
 *   no per-key TTL, so the workers bucket has a bucket-wide max age instead: a
 *   heartbeat not refreshed within `workerTtlMs` ages out, and with it a dead worker;
 * - one durable pull consumer per namespace, `<p>_ns_<ns>`, filtered on
 *   `<p>.task.<ns>.>` and shared by every worker serving that namespace (work-queue
 *   streams need non-overlapping consumers: one per namespace is exactly that).
 *
 * An existing resource with a config we cannot use (wrong retention, subjects or
 * storage, or another replica count than the one asked for) is never changed behind the
 * user's back: we throw `InfrastructureMismatchError` naming the resource, the field, both
 * values and the fix (for replicas: `phaseflow nats-setup --replicas N`, replicas.ts).
 * Streams and buckets are created with `replicas` Raft replicas. When none was asked
 * for, every process (coordinator, worker, client) creates with the same default: 3
 * when the server is part of a cluster with at least three JetStream servers, else 1
 * (`defaultReplicas`), so on a cluster the start order does not matter and nobody gets
 * one copy by accident.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { InfrastructureMismatchError, TransportConnectError } from "../../errors/base.js";
import { PRIORITY_LEVELS, type NatsNames } from "./names.js";
import { checkReplicas, replicasErrorOf } from "./replicas.js";

/** How long JetStream remembers a `Nats-Msg-Id` to drop a re-published task. */
export const DUPLICATE_WINDOW_MS = 2 * 60_000;
/** Revisions kept per run record (compare-and-set needs only the latest; a few help debugging). */
export const RUNS_HISTORY = 5;

export interface InfrastructureSettings {
  ackWaitMs: number;
  maxDeliver: number;
  workerTtlMs: number;
  /** Replicas to create with, and to insist on when given; undefined: create with the default (`defaultReplicas`), accept any. */
  replicas: number | undefined;
}

/** Replicas created on a cluster when none were asked for (what Raft needs to survive one node lost). */
export const CLUSTER_DEFAULT_REPLICAS = 3;

/**
 * The replica count to create with when none was asked for: 3 when the server we are
 * connected to is part of a cluster (its INFO names one), else 1. A cluster with fewer
 * than three JetStream servers refuses 3 replicas; `ensureInfrastructure` then creates
 * with 1 (see `Creating`).
 */
export function defaultReplicas(nc: Pick<NatsConnection, "info">): number {
  const cluster = nc.info?.cluster;
  return typeof cluster === "string" && cluster !== "" ? CLUSTER_DEFAULT_REPLICAS : 1;
}

/**
 * The replica count resources are created with during one `ensureInfrastructure`: the
 * asked count (refusals are errors), or the default, which falls to 1 for good once
 * the server refuses it for want of JetStream servers (a cluster of one or two).
 */
class Creating {
  constructor(
    public replicas: number,
    readonly asked: boolean,
  ) {}

  /** Run `create` with the current count; a defaulted count the server cannot place is retried with 1. */
  async create<T>(resource: string, create: (replicas: number) => Promise<T>): Promise<T> {
    try {
      return await create(this.replicas);
    } catch (err) {
      if (this.asked || this.replicas === 1 || replicasErrorOf(err, resource, this.replicas) === undefined) throw err;
      this.replicas = 1;
      return create(1);
    }
  }
}

export interface Buckets {
  runs: KV;
  workers: KV;
}

type StreamSpec = Pick<StreamConfig, "name" | "subjects" | "retention" | "storage" | "duplicate_window" | "discard" | "num_replicas">;

export function streamSpecs(names: NatsNames, replicas = 1): StreamSpec[] {
  const common = { storage: StorageType.File, duplicate_window: nanos(DUPLICATE_WINDOW_MS), discard: DiscardPolicy.Old, num_replicas: replicas };
  return [
    { ...common, name: names.streams.tasks, subjects: [names.subjects.tasks], retention: RetentionPolicy.Workqueue },
    { ...common, name: names.streams.events, subjects: [names.subjects.events], retention: RetentionPolicy.Limits },
  ];
}

/**
 * Create or check both streams and both KV buckets. Safe to call from every process, any number of times.
 *
 * @example
 * const { runs, workers } = await ensureInfrastructure(nc, jsm, natsNames("pf"), { ackWaitMs: 30_000, maxDeliver: 5, workerTtlMs: 60_000 });
 */
export async function ensureInfrastructure(nc: NatsConnection, jsm: JetStreamManager, names: NatsNames, settings: InfrastructureSettings): Promise<Buckets> {
  const creating = new Creating(settings.replicas ?? defaultReplicas(nc), settings.replicas !== undefined);
  for (const spec of streamSpecs(names)) await ensureStream(jsm, spec, names.prefix, settings.replicas, creating);
  const kvm = new Kvm(nc);
  const bucketSpec = { storage: StorageType.File };
  const runs = await ensureBucket(jsm, kvm, names.buckets.runs, { ...bucketSpec, history: RUNS_HISTORY }, names.prefix, settings.replicas, creating);
  const workers = await ensureBucket(jsm, kvm, names.buckets.workers, { ...bucketSpec, history: 1, ttl: settings.workerTtlMs }, names.prefix, settings.replicas, creating);
  return { runs, workers };
}

async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, prefix: string, required: number | undefined, creating: Creating): Promise<void> {
  let info = await streamInfo(jsm, spec.name);
  if (info === undefined) {
    const resource = `stream "${spec.name}"`;
    try {
      info = await creating.create(resource, (replicas) => jsm.streams.add({ ...spec, num_replicas: replicas }));
    } catch (err) {
      // Another process may have created it meanwhile: check what is there.
      info = await streamInfo(jsm, spec.name);
      if (info === undefined) throw replicasErrorOf(err, resource, creating.replicas) ?? missing(resource, err);
    }
  }
  checkStream(info, spec, prefix);
  checkReplicas(info, `stream "${spec.name}"`, required, prefix);
}

/** A stream or bucket that is not there and that this connection could not create. */
function missing(resource: string, err: unknown): TransportConnectError {
  return new TransportConnectError(
    "NATS_JETSTREAM_UNAVAILABLE",
    [],
    `${resource} does not exist and could not be created (${err instanceof Error ? err.message : String(err)}); with per-role NATS users (phaseflow nats-config) only coordinators may create it: start a coordinator first`,
    { cause: err },
  );
}

export async function streamInfo(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw err;
  }
}

function fixFor(kind: "stream" | "bucket", name: string, prefix: string): string {
  const remove = kind === "stream" ? `nats stream rm ${name}` : `nats kv del ${name}`;
  return `delete it (\`${remove}\`; its messages are lost) or use another prefix than "${prefix}" (--prefix)`;
}

/** Throw `InfrastructureMismatchError` when an existing stream differs from `spec` where it matters. */
export function checkStream(info: StreamInfo, spec: StreamSpec, prefix: string): void {
  const found = info.config;
  const resource = `stream "${spec.name}"`;
  const fix = fixFor("stream", spec.name, prefix);
  if (found.retention !== spec.retention) throw new InfrastructureMismatchError(resource, "retention", `"${found.retention}"`, `"${spec.retention}"`, fix);
  if (found.storage !== spec.storage) throw new InfrastructureMismatchError(resource, "storage", `"${found.storage}"`, `"${spec.storage}"`, fix);
  const subjects = [...(found.subjects ?? [])].sort();
  if (subjects.length !== spec.subjects.length || subjects.some((s, i) => s !== [...spec.subjects].sort()[i])) {
    throw new InfrastructureMismatchError(resource, "subjects", JSON.stringify(subjects), JSON.stringify(spec.subjects), fix);
  }
}

async function ensureBucket(
  jsm: JetStreamManager,
  kvm: Kvm,
  bucket: string,
  opts: { history: number; storage: StorageType; ttl?: number },
  prefix: string,
  required: number | undefined,
  creating: Creating,
): Promise<KV> {
  // Kvm.create opens an existing bucket as is, so check the parts we rely on.
  let kv: KV;
  const resource = `KV bucket "${bucket}"`;
  try {
    kv = await creating.create(resource, (replicas) => kvm.create(bucket, { ...opts, replicas }));
  } catch (err) {
    const refused = replicasErrorOf(err, resource, creating.replicas);
    if (refused !== undefined) throw refused;
    if ((await streamInfo(jsm, bucketStream(bucket))) !== undefined) throw err;
    throw missing(`KV bucket "${bucket}"`, err);
  }
  const info = await jsm.streams.info(bucketStream(bucket));
  if (info.config.storage !== opts.storage) {
    throw new InfrastructureMismatchError(`KV bucket "${bucket}"`, "storage", `"${info.config.storage}"`, `"${opts.storage}"`, fixFor("bucket", bucket, prefix));
  }
  checkReplicas(info, `KV bucket "${bucket}"`, required, prefix);
  return kv;
}

/** The stream that holds a KV bucket. */
export const bucketStream = (bucket: string): string => `KV_${bucket}`;

/**
 * Create (or update to the given ack settings) the durable pull consumers of one namespace,
 * one per priority level (names.ts), and return them first level to last.
 * nats-server 2.9 treats a create of an existing durable as an update when only updatable
 * fields (ack_wait, max_deliver) differ, so every worker may call this.
 *
 * A deployment from before priority levels has one consumer `<p>_ns_<ns>` filtering
 * `<p>.task.<ns>.>`, which overlaps every level (a work-queue stream refuses overlapping
 * consumers) and whose filter 2.9 cannot change: it is deleted and made again with the
 * priority-3 filter. Its unacked messages stay in the stream and are delivered again by the
 * new consumer (an attempt already running may so run twice; executors get an idempotencyKey).
 *
 * @example
 * await ensureNamespaceConsumers(jsm, names, "etl", { ackWaitMs: 30_000, maxDeliver: 5 }); // ["pf_ns_etl_p1", ..., "pf_ns_etl", ..., "pf_ns_etl_p5"]
 */
export async function ensureNamespaceConsumers(
  jsm: JetStreamManager,
  names: NatsNames,
  namespace: string,
  settings: Pick<InfrastructureSettings, "ackWaitMs" | "maxDeliver">,
): Promise<string[]> {
  const plain = names.namespaceConsumer(namespace);
  const legacy = await jsm.consumers.info(names.streams.tasks, plain).catch(() => undefined);
  if (legacy !== undefined && legacy.config.filter_subject === names.subjects.namespaceTasks(namespace)) {
    await jsm.consumers.delete(names.streams.tasks, plain).catch(async (err: unknown) => {
      // Another worker of the namespace may have replaced it first.
      if ((await jsm.consumers.info(names.streams.tasks, plain).catch(() => undefined))?.config.filter_subject === names.subjects.namespaceTasks(namespace)) throw err;
    });
  }
  const durables: string[] = [];
  for (const level of PRIORITY_LEVELS) durables.push(await ensureLevelConsumer(jsm, names, namespace, level, settings));
  return durables;
}

async function ensureLevelConsumer(
  jsm: JetStreamManager,
  names: NatsNames,
  namespace: string,
  level: number,
  settings: Pick<InfrastructureSettings, "ackWaitMs" | "maxDeliver">,
): Promise<string> {
  const durable = names.levelConsumer(namespace, level);
  const filter = names.subjects.levelTasks(namespace, level);
  const config = {
    durable_name: durable,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(settings.ackWaitMs),
    max_deliver: settings.maxDeliver,
  };
  try {
    await jsm.consumers.add(names.streams.tasks, config);
  } catch (err) {
    const existing = await jsm.consumers.info(names.streams.tasks, durable).catch(() => undefined);
    if (existing === undefined) throw err;
    if (existing.config.filter_subject !== filter) {
      throw new InfrastructureMismatchError(
        `consumer "${durable}" of stream "${names.streams.tasks}"`,
        "filter_subject",
        `"${existing.config.filter_subject ?? ""}"`,
        `"${filter}"`,
        `delete it (\`nats consumer rm ${names.streams.tasks} ${durable}\`) or use another prefix than "${names.prefix}" (--prefix)`,
      );
    }
    await jsm.consumers.update(names.streams.tasks, durable, { ack_wait: config.ack_wait, max_deliver: config.max_deliver });
  }
  return durable;
}
