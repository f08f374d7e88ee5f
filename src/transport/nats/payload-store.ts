/**
 * The NATS side of the `PayloadStore` port (transport/payloads.ts): payloads in the Object
 * Store bucket `<p>_payloads` (`pf_payloads`), named by the hex SHA-256 of their bytes,
 * and which runs hold each one in the KV bucket `<p>_payload_refs`, one key
 * `<sha>.<runId>` per holder (nats-server 2.9 has no per-key TTL and object metadata has
 * no compare-and-set, so a holder is a key of its own: adding one never races another).
 *
 * Both buckets are made on first use, with the replica count of the events stream (a
 * fleet that never carries a large value never has them). `put` writes the holder key
 * first, then uploads only when the object is absent or damaged (its size or digest is
 * not that of its name, e.g. a corrupt object a retried task uploads again); `release` removes the run's keys,
 * then deletes each object no key names any more. A `put` of the same bytes for another
 * run landing between that check and the delete can lose its object (the window is one
 * KV read): content-addressed puts from a live run re-upload on their next send, and
 * retention only releases finished runs.
 */
import { StorageType, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { Logger } from "../../registry/types.js";
import type { PayloadStore, StoredPayload } from "../payloads.js";
import type { NatsNames } from "./names.js";
import { typedKv, type NatsTypedKv } from "./typed-kv.js";

/** Chunks of the object store's stream: larger than its 128 KiB default (fewer messages), well under max_payload. */
const CHUNK_BYTES = 512 * 1024;

const holderSchema = z.object({ at: z.number() });

interface Buckets {
  objects: ObjectStore;
  holders: NatsTypedKv<z.infer<typeof holderSchema>>;
}

export function payloadBucketNames(names: NatsNames): { objects: string; holders: string } {
  return { objects: `${names.prefix}_payloads`, holders: `${names.prefix}_payload_refs` };
}

/**
 * Whether an object's digest (`SHA-256=<base64url>`, as the object store computed it over
 * the bytes it stored) is the SHA-256 whose hex `hex` names it.
 */
export function digestIs(digest: string, hex: string): boolean {
  if (!digest.startsWith("SHA-256=")) return false;
  // Node's base64 decoder takes the URL alphabet, with or without padding.
  return Buffer.from(digest.slice("SHA-256=".length), "base64").toString("hex") === hex;
}

/**
 * @example const store = natsPayloadStore(nc, jsm, names, logger); await store.put(runId, id, bytes);
 */
export function natsPayloadStore(nc: NatsConnection, jsm: JetStreamManager, names: NatsNames, logger: Logger): PayloadStore {
  const bucketNames = payloadBucketNames(names);
  let opened: Promise<Buckets> | undefined;
  const buckets = (): Promise<Buckets> => {
    opened ??= open().catch((err: unknown) => {
      opened = undefined;
      throw err;
    });
    return opened;
  };

  async function open(): Promise<Buckets> {
    // The streams' replica count (infrastructure.ts chose it): the payloads live as long and as safely as the histories that name them.
    const replicas = (await jsm.streams.info(names.streams.events)).config.num_replicas;
    const objects = await new Objm(nc).create(bucketNames.objects, { storage: StorageType.File, replicas });
    const kv: KV = await new Kvm(nc).create(bucketNames.holders, { storage: StorageType.File, replicas, history: 1 });
    return { objects, holders: typedKv(kv, holderSchema, logger, bucketNames.holders) };
  }

  const hexOf = (id: string): string => id.slice(id.indexOf(":") + 1);

  return {
    async put(runId, id, data) {
      const { objects, holders } = await buckets();
      const hex = hexOf(id);
      await holders.put(`${hex}.${runId}`, { at: Date.now() });
      const info = await objects.info(hex);
      if (info !== null && info.size === data.byteLength && digestIs(info.digest, hex)) return;
      // An object under this name whose size or digest is not that of its name is damaged (readers refuse it, PAYLOAD_CORRUPT): this upload replaces it.
      if (info !== null) logger.warn({ id, size: info.size, bytes: data.byteLength, digest: info.digest }, "a stored payload does not match its name (damaged or replaced); uploading it again");
      await objects.putBlob({ name: hex, options: { max_chunk_size: CHUNK_BYTES } }, data);
    },
    async get(id) {
      const { objects } = await buckets();
      return (await objects.getBlob(hexOf(id))) ?? undefined;
    },
    async release(runId) {
      const { objects, holders } = await buckets();
      const held = await holders.keys(`*.${runId}`);
      let deleted = 0;
      for (const key of held) {
        const hex = key.slice(0, key.indexOf("."));
        await holders.purge(key);
        if ((await holders.keys(`${hex}.*`)).length > 0) continue;
        if ((await objects.info(hex)) === null) continue;
        await objects.delete(hex);
        deleted++;
      }
      if (deleted > 0) logger.debug({ runId, deleted }, "payloads no kept run holds were deleted");
      return deleted;
    },
    async sweepIncomplete(olderThanMs) {
      const { objects } = await buckets();
      const stream = `OBJ_${bucketNames.objects}`;
      const chunks = `$O.${bucketNames.objects}.C.`;
      // Chunks of a stored object are under its nuid; an upload cut short left chunks under a nuid no object names.
      const live = new Set((await objects.list()).map((info) => info.nuid));
      const subjects = (await jsm.streams.info(stream, { subjects_filter: `${chunks}>` })).state.subjects ?? {};
      const cutoff = Date.now() - olderThanMs;
      let swept = 0;
      for (const subject of Object.keys(subjects)) {
        if (live.has(subject.slice(chunks.length))) continue;
        // Its newest chunk: an upload still writing is left alone.
        const last = await jsm.streams.getMessage(stream, { last_by_subj: subject });
        if (last === null || last.time.getTime() > cutoff) continue;
        // Finished meanwhile (its object named after the list above)?
        if ((await objects.list()).some((info) => `${chunks}${info.nuid}` === subject)) continue;
        await jsm.streams.purge(stream, { filter: subject });
        swept++;
      }
      if (swept > 0) logger.info({ swept, chunks: Object.keys(subjects).length }, "removed the chunks of payload uploads that never finished");
      return swept;
    },
    async list() {
      const { objects, holders } = await buckets();
      const keys = await holders.keys();
      const runsOf = new Map<string, string[]>();
      for (const key of keys) {
        const dot = key.indexOf(".");
        const hex = key.slice(0, dot);
        runsOf.set(hex, [...(runsOf.get(hex) ?? []), key.slice(dot + 1)]);
      }
      const out: StoredPayload[] = [];
      for (const info of await objects.list()) {
        if (info.deleted) continue;
        out.push({ id: `sha256:${info.name}`, bytes: info.size, runs: runsOf.get(info.name) ?? [] });
      }
      return out;
    },
  };
}
