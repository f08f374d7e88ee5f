import { describe, expect, it } from "vitest";
import { PayloadsNeeded, viewValue } from "../../src/runtime/core/payload-view.js";
import { createPayloadCache } from "../../src/runtime/shell/payload-cache.js";
import type { PayloadRef, Payloads } from "../../src/transport/payloads.js";

const ref = (id: string, bytes = 10): PayloadRef => ({ $pfref: id, bytes });

/** Payloads whose resolve returns `values[id]` and counts the fetches. */
function fakePayloads(values: Record<string, unknown>): Payloads & { fetched: string[] } {
  const fetched: string[] = [];
  return {
    inlineBytes: 1,
    maxPayload: 1e9,
    fetched,
    reference: (_runId, value) => Promise.resolve(value),
    resolve: <T>(value: T): Promise<T> => {
      const id = (value as unknown as PayloadRef).$pfref;
      fetched.push(id);
      return Promise.resolve(values[id] as T);
    },
    release: () => Promise.resolve(0),
    list: () => Promise.resolve([]),
    sweepIncomplete: () => Promise.resolve(0),
  };
}

describe("payload view - what the decider's user functions see", () => {
  it("payload view - values without references are the same object; references and merges are looked up", () => {
    const plain = { a: 1, b: [1, 2] };
    expect(viewValue(plain, undefined)).toBe(plain);
    const view = { get: (id: string) => ({ "sha256:l": { items: [1, 2, 3] }, "sha256:t": { flag: true } })[id] };
    expect(viewValue({ list: ref("sha256:l"), n: 1 }, view)).toEqual({ list: { items: [1, 2, 3] }, n: 1 });
    expect(viewValue({ $pfmerge: [{ count: 2 }, ref("sha256:t")] }, view)).toEqual({ count: 2, flag: true });
    expect(viewValue([ref("sha256:t"), 3], view)).toEqual([{ flag: true }, 3]);
  });

  it("payload view - names every reference not fetched yet", () => {
    let thrown: unknown;
    try {
      viewValue({ $pfmerge: [ref("sha256:a"), { x: ref("sha256:b") }] }, { get: () => undefined });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PayloadsNeeded);
    expect((thrown as PayloadsNeeded).refs.map((r) => r.$pfref)).toEqual(["sha256:a", "sha256:b"]);
  });

  it("payload cache - fetches each payload once, keeps within its bound (a batch is never dropped for itself)", async () => {
    const payloads = fakePayloads({ "sha256:a": "A", "sha256:b": "B", "sha256:c": "C" });
    const cache = createPayloadCache(25);
    await Promise.all([cache.fetch(payloads, [ref("sha256:a")]), cache.fetch(payloads, [ref("sha256:a")])]);
    expect(payloads.fetched).toEqual(["sha256:a"]);
    expect(cache.get("sha256:a")).toBe("A");
    await cache.fetch(payloads, [ref("sha256:b"), ref("sha256:c")]);
    // 30 bytes asked for at once over a bound of 25: the older entry goes, the batch stays.
    expect(cache.get("sha256:a")).toBeUndefined();
    expect([cache.get("sha256:b"), cache.get("sha256:c")]).toEqual(["B", "C"]);
    expect(cache.size()).toEqual({ entries: 2, bytes: 20 });
  });
});
