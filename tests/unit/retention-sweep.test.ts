// Retention and prune also sweep payload uploads cut short (their uploader died mid-put),
// with a grace of INCOMPLETE_UPLOAD_AGE_MS so an upload still writing is left alone.
import { describe, expect, it } from "vitest";
import { pruneFinishedRuns } from "../../src/fleet/retention.js";
import type { RunStoreKv } from "../../src/fleet/run-store.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { INCOMPLETE_UPLOAD_AGE_MS } from "../../src/transport/payloads.js";

describe("retention - incomplete payload uploads", () => {
  it("retention - a sweep asks the payload store to remove incomplete uploads older than the grace", async () => {
    const asked: number[] = [];
    const kv = { done: { keys: () => Promise.resolve([]) } } as unknown as RunStoreKv;
    const transport = { deleteHistory: () => Promise.resolve(), payloads: { sweepIncomplete: (ms: number) => (asked.push(ms), Promise.resolve(2)) } };
    expect(await pruneFinishedRuns(transport, kv, Date.now(), createSilentLogger())).toEqual({ removed: [] });
    expect(asked).toEqual([INCOMPLETE_UPLOAD_AGE_MS]);
  });

  it("retention - a failing sweep of uploads does not fail the prune", async () => {
    const kv = { done: { keys: () => Promise.resolve([]) } } as unknown as RunStoreKv;
    const transport = { deleteHistory: () => Promise.resolve(), payloads: { sweepIncomplete: () => Promise.reject(new Error("store away")) } };
    expect(await pruneFinishedRuns(transport, kv, Date.now(), createSilentLogger())).toEqual({ removed: [] });
  });
});
