/**
 * A KV bucket whose values are JSON checked by a zod schema on the way in and out,
 * with the revision exposed for compare-and-set (`update(key, value, revision)`).
 * The NATS side of the fleet's `TypedKv` port (transport/fleet-port.ts): the
 * coordinator service keeps run records in `<p>_runs` and workers their heartbeats
 * in `<p>_workers` through this; a stored value that fails the schema is reported
 * as `undefined` + a warning, never thrown.
 */
import type { KV } from "@nats-io/kv";
import type { ZodType } from "zod";
import type { Logger } from "../../registry/types.js";
import type { TypedEntry, TypedKv } from "../fleet-port.js";
import { decodeMessage, encodeMessage } from "./codec.js";

export type { TypedEntry, TypedKv };

/** A TypedKv that also hands out its raw bucket (only for code inside transport/nats and tests). */
export interface NatsTypedKv<T> extends TypedKv<T> {
  /** The raw bucket, for watches and anything this wrapper does not cover. */
  readonly kv: KV;
}

/**
 * Wrap a bucket with a value schema.
 *
 * @example
 * const runs = typedKv(() => buckets.runs, runRecordSchema, logger);
 * const entry = await runs.get(runId);
 * if (entry) await runs.update(runId, { ...entry.value, status: "running" }, entry.revision);
 */
export function typedKv<T>(bucketOrGetter: KV | (() => KV), schema: ZodType<T>, logger: Logger, bucket = "kv"): NatsTypedKv<T> {
  // A getter follows the transport's buckets when `ensureInfrastructure` opens them again.
  const kvOf = typeof bucketOrGetter === "function" ? bucketOrGetter : () => bucketOrGetter;
  const encode = (key: string, value: T): Uint8Array => encodeMessage(schema, value, `value of key "${key}" in bucket "${bucket}"`);
  return {
    bucket,
    get kv() {
      return kvOf();
    },
    async get(key) {
      const entry = await kvOf().get(key);
      if (entry === null || entry.operation !== "PUT" || entry.length === 0) return undefined;
      const decoded = decodeMessage(schema, entry.value);
      if (!decoded.ok) {
        logger.warn({ bucket, key, revision: entry.revision, reason: decoded.reason }, "malformed KV value ignored");
        return undefined;
      }
      return { key, value: decoded.value, revision: entry.revision };
    },
    async put(key, value) {
      return kvOf().put(key, encode(key, value));
    },
    async create(key, value) {
      return kvOf().create(key, encode(key, value));
    },
    async update(key, value, revision) {
      return kvOf().update(key, encode(key, value), revision);
    },
    async delete(key) {
      await kvOf().delete(key);
    },
    async purge(key) {
      await kvOf().purge(key);
    },
    async keys(filter) {
      return listKeys(kvOf(), filter);
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
