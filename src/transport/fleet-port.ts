/**
 * The fleet's ports (docs/architecture.md "The parts"): what src/fleet needs of a deployment beyond the
 * Transport port — keyed stores for run summaries, leases, start keys, trigger states
 * and heartbeats; request/reply for the coordinator API; and the housekeeping of the
 * tasks stream (messages whose deliveries ran out, the sweep of messages no run can
 * use). `transport/nats` implements them over NATS (KV buckets, core request/reply,
 * the tasks stream and its advisories) and `transport/memory` has an in-memory store.
 * src/fleet talks only to these interfaces: it holds no NATS connection, JetStream
 * manager or bucket.
 */
import type { ZodType } from "zod";
import type { Decoded } from "./decode.js";
import type { TaskMessage } from "./messages.js";
import type { Transport } from "./port.js";

export interface TypedEntry<T> {
  key: string;
  value: T;
  /** Pass to `update` for compare-and-set. */
  revision: number;
}

/**
 * A keyed store whose values are checked by a zod schema on the way in and out, with
 * the revision exposed for compare-and-set. A stored value that fails the schema is
 * reported as `undefined` (and logged), never thrown.
 */
export interface TypedKv<T> {
  /** The store's name (for logs). */
  readonly bucket: string;
  /** The entry, or undefined when the key is absent, deleted or holds a malformed value. */
  get(key: string): Promise<TypedEntry<T> | undefined>;
  /** Write unconditionally; returns the new revision. */
  put(key: string, value: T): Promise<number>;
  /** Write only if the key does not exist; rejects otherwise. Returns the revision. */
  create(key: string, value: T): Promise<number>;
  /** Write only if the key is still at `revision`; rejects on a conflict. Returns the new revision. */
  update(key: string, value: T, revision: number): Promise<number>;
  delete(key: string): Promise<void>;
  /** Remove the key and its history for good (no tombstone kept). */
  purge(key: string): Promise<void>;
  /** Every key currently holding a value, or those matching `filter` (dot-separated tokens, `*` one token, `>` the rest: `active.>`). */
  keys(filter?: string): Promise<string[]>;
}

/** The fleet's two stores: `runs` (summaries, leases, indexes, start keys, trigger states) and `workers` (heartbeats). */
export type StoreName = "runs" | "workers";

/** One request to an API endpoint. */
export interface ApiRequest {
  readonly data: Uint8Array;
  /** False when the caller does not wait for a reply (`respond` then does nothing). */
  readonly expectsReply: boolean;
  respond(data: Uint8Array): void;
  /** Run `fn` in the caller's trace context, when the request carried one (a run started inside a span is its child). */
  inCallerTrace<T>(fn: () => T): T;
}

export interface ApiEndpoint {
  stop(): void;
}

/** Request/reply on named operations (`run.start`, `coordinator.<id>.cancel`, ...). */
export interface ApiPort {
  /** The wire address of `op`, for messages and logs. */
  subject(op: string): string;
  /** Largest message the wire carries now (bytes). */
  readonly maxPayload: number;
  /** Answer requests on `op`; with `group`, each request goes to one member of the group. */
  serve(op: string, options: { group?: string }, handlers: { onRequest(request: ApiRequest): void; onError(err: unknown): void }): ApiEndpoint;
  /**
   * Send a request and wait for one reply (with the active span's trace context).
   * Throws `NoRespondersError` when nobody serves `op`, and the wire's own error otherwise (timeout, closed).
   */
  request(op: string, data: Uint8Array, options: { timeoutMs: number }): Promise<Uint8Array>;
  /** Resolve once everything sent so far (subscriptions included) reached the server. */
  flush(): Promise<void>;
}

/** Nobody serves the operation a request was sent to (NATS: "no responders"); in errors/ so it comes back by class from the wire. */
export { NoRespondersError } from "../errors/fleet.js";

/** A message of the tasks stream, read by its stream sequence. */
export interface StoredTask {
  readonly seq: number;
  /** When the stream stored it (epoch ms). */
  readonly storedAt: number;
  readonly subject: string;
  /** The message checked against the task schema (a malformed one says why). */
  readonly task: Decoded<TaskMessage>;
}

/** A task message delivered `max_deliver` times without an ack: the stream will not deliver it again. */
export interface ExhaustedTask {
  readonly seq: number;
  readonly deliveries: number;
}

/** The housekeeping side of the tasks stream (not the worker's consume path, which is the Transport port's). */
export interface TaskStreamPort {
  /** The stream's name, for logs. */
  readonly name: string;
  /**
   * Be told of exhausted task messages; with `group`, each notice goes to one member.
   * `onMalformed` counts a notice that does not parse; `onError` a failure of the watch itself.
   */
  watchExhausted(group: string, handlers: { onExhausted(task: ExhaustedTask): void; onMalformed(): void; onError(err: unknown): void }): ApiEndpoint;
  /** The message at `seq`, or undefined once it is gone (acked, deleted). */
  read(seq: number): Promise<StoredTask | undefined>;
  /** Delete the message at `seq`; false when it was gone already. */
  remove(seq: number): Promise<boolean>;
  /** The sequence range the stream holds now (first > last when empty). */
  bounds(): Promise<{ first: number; last: number }>;
}

/** A Transport with the fleet's ports: what the coordinator service, the worker service and the client run on. */
export interface FleetTransport extends Transport {
  readonly api: ApiPort;
  readonly taskStream: TaskStreamPort;
  /** A typed view of one of the fleet's stores (cheap: make one per schema). */
  store<T>(name: StoreName, schema: ZodType<T>): TypedKv<T>;
  /** The sequence of the run's last stored decision now (0: none), without reading its history. */
  lastDecisionSeq(runId: string): Promise<number>;
}
