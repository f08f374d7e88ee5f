// A payload is content-addressed: a reader checks the bytes it fetched against the
// payload's name, and refuses bytes that do not hash to it (PayloadStoreError PAYLOAD_CORRUPT);
// one that is gone is PAYLOAD_MISSING. Both are known by class across the wire.
import { describe, expect, it } from "vitest";
import { PayloadStoreError } from "../../src/errors/payloads.js";
import { deserializeError, serializeError } from "../../src/errors/serialize.js";
import { sha256HexOfBytes } from "../../src/support/hash.js";
import { memoryPayloadStore } from "../../src/transport/memory/payload-store.js";
import { createPayloads, isPayloadRef, PayloadMissingError, REPUT_AFTER_MS, type PayloadRef } from "../../src/transport/payloads.js";

describe("payloads - integrity on read", () => {
  it("payloads - bytes that do not hash to the payload's name are refused with PAYLOAD_CORRUPT naming both hashes", async () => {
    const store = memoryPayloadStore();
    const p = createPayloads(store, { inlineBytes: 16, sha256: sha256HexOfBytes });
    const ref = (await p.reference("r1", { blob: "a".repeat(100) }, "x")) as PayloadRef;
    expect(isPayloadRef(ref)).toBe(true);
    expect(await p.resolve(ref)).toEqual({ blob: "a".repeat(100) });

    // The object is replaced under its name (a damaged store): readers refuse it.
    const forged = new TextEncoder().encode(JSON.stringify({ blob: "b".repeat(100) }));
    await store.release("r1");
    await store.put("r1", ref.$pfref, forged);
    const err = await p.resolve(ref).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadStoreError);
    expect(err).toMatchObject({ code: "PAYLOAD_CORRUPT", retryable: false, payloadId: ref.$pfref });
    expect((err as Error).message).toContain(ref.$pfref);
    expect((err as Error).message).toContain(`sha256:${sha256HexOfBytes(forged)}`);
    expect(deserializeError(serializeError(err))).toBeInstanceOf(PayloadStoreError);
  });

  it("payloads - a payload that is gone is PAYLOAD_MISSING", async () => {
    const p = createPayloads(memoryPayloadStore(), { inlineBytes: 16, sha256: sha256HexOfBytes });
    const err = await p.resolve({ $pfref: `sha256:${"0".repeat(64)}`, bytes: 3 }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadMissingError);
    expect(err).toBeInstanceOf(PayloadStoreError);
    expect(err).toMatchObject({ code: "PAYLOAD_MISSING" });
  });
});

describe("payloads - a damaged object is replaced by the next upload of its content", () => {
  const value = { blob: "a".repeat(100) };
  const forged = new TextEncoder().encode(JSON.stringify({ blob: "b".repeat(100) }));

  it("payloads - after a read found it damaged, the writer's next reference uploads it again and it reads back right", async () => {
    const store = memoryPayloadStore();
    const p = createPayloads(store, { inlineBytes: 16, sha256: sha256HexOfBytes });
    const ref = (await p.reference("r1", value, "x")) as PayloadRef;
    // Damaged in place, still held by r1.
    await store.put("r1", ref.$pfref, forged);
    await expect(p.resolve(ref)).rejects.toMatchObject({ code: "PAYLOAD_CORRUPT" });
    expect(await p.reference("r1", value, "x")).toEqual(ref);
    expect(await p.resolve(ref)).toEqual(value);
    expect((await store.list()).map((o) => o.runs)).toEqual([["r1"]]);
  });

  it("payloads - a process that put a value over a minute ago puts it again when sent again, replacing a damaged object", async () => {
    const store = memoryPayloadStore();
    let now = 1_000_000;
    const p = createPayloads(store, { inlineBytes: 16, sha256: sha256HexOfBytes, now: () => now });
    const ref = (await p.reference("r1", value, "x")) as PayloadRef;
    await store.put("r1", ref.$pfref, forged);
    // Sent again at once: taken as stored (the same output to several tasks uploads once).
    await p.reference("r1", value, "x");
    expect(new TextDecoder().decode(await store.get(ref.$pfref))).toBe(JSON.stringify({ blob: "b".repeat(100) }));
    // A retry a minute later puts it again: the store finds the object is not these bytes and replaces it.
    now += REPUT_AFTER_MS;
    await p.reference("r1", value, "x");
    expect(await p.resolve(ref)).toEqual(value);
  });
});
