/**
 * A KV bucket whose values are JSON checked by a zod schema on the way in and out,
 * with the revision exposed for compare-and-set (`update(key, value, revision)`).
 * The coordinator service keeps run records in `<p>_runs` and workers their
 * heartbeats in `<p>_workers` through this; a stored value that fails the schema
 * is reported as `undefined` + a warning, never thrown.
 */
import type { KV } from "@nats-io/kv";
import type { ZodType } from "zod";
import type { Logger } from "../../registry/types.js";
import { decodeMessage, encodeMessage } from "./codec.js";

export interface TypedEntry<T> {
  key: string;
  value: T;
  /** Pass to `update` for compare-and-set. */
  revision: number;
}

export interface TypedKv<T> {
  readonly bucket: string;
  /** The raw bucket, for watches and anything this wrapper does not cover. */
  readonly kv: KV;
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
  /** Every key currently in the bucket, or those matching `filter` (a subject pattern, e.g. `active.>`). */
  keys(filter?: string): Promise<string[]>;
}

/**
 * Wrap a bucket with a value schema.
 *
 * @example
 * const runs = typedKv(transport.buckets.runs, runRecordSchema, logger);
 * const entry = await runs.get(runId);
 * if (entry) await runs.update(runId, { ...entry.value, status: "running" }, entry.revision);
 */
export function typedKv<T>(kv: KV, schema: ZodType<T>, logger: Logger, bucket = "kv"): TypedKv<T> {
  const encode = (key: string, value: T): Uint8Array => encodeMessage(schema, value, `value of key "${key}" in bucket "${bucket}"`);
  return {
    bucket,
    kv,
    async get(key) {
      const entry = await kv.get(key);
      if (entry === null || entry.operation !== "PUT" || entry.length === 0) return undefined;
      const decoded = decodeMessage(schema, entry.value);
      if (!decoded.ok) {
        logger.warn({ bucket, key, revision: entry.revision, reason: decoded.reason }, "malformed KV value ignored");
        return undefined;
      }
      return { key, value: decoded.value, revision: entry.revision };
    },
    async put(key, value) {
      return kv.put(key, encode(key, value));
    },
    async create(key, value) {
      return kv.create(key, encode(key, value));
    },
    async update(key, value, revision) {
      return kv.update(key, encode(key, value), revision);
    },
    async delete(key) {
      await kv.delete(key);
    },
    async purge(key) {
      await kv.purge(key);
    },
    async keys(filter) {
      return listKeys(kv, filter);
    },
  };
}

/** The parts of nats.js's bucket that a snapshot listing needs (present on every `Kvm` bucket). */
interface BucketInternals {
  readonly jsm: { streams: { info(name: string, opts: { subjects_filter: string }): Promise<{ state: { subjects?: Record<string, number> } }> } };
  readonly stream: string;
  readonly prefix: string;
}

function bucketInternals(kv: KV): BucketInternals | undefined {
  const b = kv as unknown as Partial<BucketInternals>;
  return typeof b.stream === "string" && typeof b.prefix === "string" && typeof b.jsm?.streams?.info === "function" ? (b as BucketInternals) : undefined;
}

/**
 * The keys of a bucket as they are now, from one (paged) stream-info request with a subject
 * filter. nats.js's own `kv.keys()` reads an ordered consumer until nothing is pending, which
 * never happens while the bucket is being written (heartbeats every second, runs starting):
 * it then hangs, and can name a key twice.
 */
async function listKeys(kv: KV, filter = ">"): Promise<string[]> {
  const b = bucketInternals(kv);
  if (b === undefined) {
    const out = new Set<string>();
    for await (const k of await kv.keys(filter)) out.add(k);
    return [...out];
  }
  const info = await b.jsm.streams.info(b.stream, { subjects_filter: `${b.prefix}.${filter}` });
  const start = b.prefix.length + 1;
  const named = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(start));
  // A deleted or purged key keeps its marker message, so its subject is still listed: keep only keys holding a value.
  const live = await Promise.all(named.map(async (key) => ((await kv.get(key))?.operation === "PUT" ? key : undefined)));
  return live.filter((key): key is string => key !== undefined);
}
