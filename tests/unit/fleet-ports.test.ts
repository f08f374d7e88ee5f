// The fleet's housekeeping now talks to ports (transport/fleet-port.ts) instead of NATS
// objects; these check that each responsibility still holds where it now lives, in
// memory: the exhausted-delivery watch (fleet/max-deliveries.ts), the task sweep
// (fleet/task-sweeper.ts), the in-memory store, and "no responders" told apart by the
// NATS client's error classes (transport/nats/api.ts), never by the message text.
import { errors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { watchMaxDeliveries } from "../../src/fleet/max-deliveries.js";
import { activeKey, runKey, runStoreKv, type StoredRun } from "../../src/fleet/run-store.js";
import { startTaskSweeper } from "../../src/fleet/task-sweeper.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { decodeJsonBytes } from "../../src/transport/decode.js";
import type { ExhaustedTask, StoredTask, TaskStreamPort } from "../../src/transport/fleet-port.js";
import { createMemoryStores, keyMatches, StoreConflictError } from "../../src/transport/memory/kv-store.js";
import { dispatchIdOf, taskMessageSchema, WIRE_VERSION, type Report, type TaskMessage } from "../../src/transport/messages.js";
import { isNoResponders } from "../../src/transport/nats/api.js";
import { z } from "zod";

const encoder = new TextEncoder();

function taskOf(runId: string, overrides: Partial<TaskMessage> = {}): TaskMessage {
  return {
    v: WIRE_VERSION,
    runId,
    planHash: "h",
    workflow: "wf",
    state: "s",
    visit: 1,
    task: "t",
    attempt: 1,
    dispatchId: dispatchIdOf(runId, "s", 1, "t", 1),
    executor: "ns/work",
    idempotencyKey: `${runId}/s/1/t`,
    parents: {},
    deadline: null,
    timeoutMs: null,
    dispatchedAt: 0,
    round: 0,
    epoch: 1,
    token: "0123456789abcdef0123",
    ...overrides,
  };
}

/** A tasks stream in memory: messages by sequence, and notices of exhausted ones pushed by the test. */
function memoryTaskStream() {
  const messages = new Map<number, { storedAt: number; data: Uint8Array }>();
  let next = 1;
  let watcher: { onExhausted(t: ExhaustedTask): void; onMalformed(): void } | undefined;
  const port: TaskStreamPort = {
    name: "TEST_TASKS",
    watchExhausted(_group, handlers) {
      watcher = handlers;
      return { stop: () => (watcher = undefined) };
    },
    read(seq): Promise<StoredTask | undefined> {
      const m = messages.get(seq);
      return Promise.resolve(m && { seq, storedAt: m.storedAt, subject: "t.ns.work", task: decodeJsonBytes(taskMessageSchema, m.data) });
    },
    remove: (seq) => Promise.resolve(messages.delete(seq)),
    bounds() {
      const seqs = [...messages.keys()];
      return Promise.resolve(seqs.length === 0 ? { first: next, last: next - 1 } : { first: Math.min(...seqs), last: Math.max(...seqs) });
    },
  };
  return {
    port,
    messages,
    add(body: unknown, storedAt = 0): number {
      messages.set(next, { storedAt, data: encoder.encode(typeof body === "string" ? body : JSON.stringify(body)) });
      return next++;
    },
    exhaust: (seq: number, deliveries = 5) => watcher?.onExhausted({ seq, deliveries }),
    malformedNotice: () => watcher?.onMalformed(),
  };
}

const storedRun = (runId: string, status: StoredRun["status"]): StoredRun =>
  ({ runId, workflow: "wf", version: "1", planHash: "h", status, updatedAt: 0, tasks: { total: 1, succeeded: 0, failed: 0, running: 0 }, coordinator: "c1", epoch: 1, leaseUntil: 0 }) as StoredRun;

/** No attempt sends live signals here: the watch finds every exhausted attempt silent (after `quietMs`). */
const noLiveSignals = (): Promise<{ stop(): Promise<void> }> => Promise.resolve({ stop: () => Promise.resolve() });

/** Resolve once `check` holds (the watch handles notices asynchronously). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

describe("fleet ports - the exhausted-delivery watch", () => {
  it("fleet ports - an exhausted task of an active run is reported as a failed attempt (MAX_DELIVERIES_EXCEEDED) and removed from the stream", async () => {
    const stream = memoryTaskStream();
    const kv = runStoreKv(createMemoryStores());
    await kv.active.put(activeKey("r1"), { workflow: "wf", since: 0 });
    const reports: Report[] = [];
    const counters = { malformed: 0 };
    const runs = { kv, counters: { undeliverable: 0 } };
    const watch = watchMaxDeliveries({ taskStream: stream.port, publishReport: (r) => (reports.push(r), Promise.resolve()), subscribeLive: noLiveSignals }, "c1", createSilentLogger(), counters, runs, { quietMs: 0 });
    const seq = stream.add(taskOf("r1"));
    stream.exhaust(seq, 7);
    await until(() => !stream.messages.has(seq));
    expect(reports).toHaveLength(1);
    const report = reports[0]!;
    expect(report).toMatchObject({ kind: "report", type: "attempt.failed", runId: "r1", state: "s", task: "t", attempt: 1, token: "0123456789abcdef0123", workerId: "coordinator:c1" });
    expect(report.type === "attempt.failed" && report.error).toMatchObject({ code: "MAX_DELIVERIES_EXCEEDED", retryable: true });
    expect(runs.counters.undeliverable).toBe(0);
    watch.stop();
  });

  it("fleet ports - an exhausted task of no active run, and one that does not parse, are removed and counted, never reported", async () => {
    const stream = memoryTaskStream();
    const kv = runStoreKv(createMemoryStores());
    const reports: Report[] = [];
    const counters = { malformed: 0 };
    const runs = { kv, counters: { undeliverable: 0 } };
    watchMaxDeliveries({ taskStream: stream.port, publishReport: (r) => (reports.push(r), Promise.resolve()), subscribeLive: noLiveSignals }, "c1", createSilentLogger(), counters, runs);
    const orphan = stream.add(taskOf("gone"));
    const garbage = stream.add("{not json");
    stream.exhaust(orphan);
    stream.exhaust(garbage);
    stream.malformedNotice();
    await until(() => stream.messages.size === 0);
    expect(reports).toEqual([]);
    expect(runs.counters.undeliverable).toBe(1);
    expect(counters.malformed).toBe(2); // the garbage message and the notice that did not parse
  });

  it("fleet ports - a notice for a message already gone does nothing", async () => {
    const stream = memoryTaskStream();
    const reports: Report[] = [];
    const counters = { malformed: 0 };
    watchMaxDeliveries({ taskStream: stream.port, publishReport: (r) => (reports.push(r), Promise.resolve()), subscribeLive: noLiveSignals }, "c1", createSilentLogger(), counters);
    stream.exhaust(42);
    await new Promise((r) => setTimeout(r, 20));
    expect(reports).toEqual([]);
    expect(counters.malformed).toBe(0);
  });
});

describe("fleet ports - the task sweep", () => {
  it("fleet ports - old messages no run can use go (unknown run, finished run, bad ids, malformed); those of unfinished runs and young ones stay", async () => {
    const stream = memoryTaskStream();
    const kv = runStoreKv(createMemoryStores());
    await kv.active.put(activeKey("active"), { workflow: "wf", since: 0 });
    await kv.runs.put(runKey("done"), storedRun("done", "succeeded"));
    await kv.runs.put(runKey("pending"), storedRun("pending", "pending"));
    const now = 1_000_000;
    const old = now - 120_000;
    const keepActive = stream.add(taskOf("active"), old);
    const dropUnknown = stream.add(taskOf("unknown"), old);
    const dropDone = stream.add(taskOf("done"), old);
    const keepPending = stream.add(taskOf("pending"), old); // no active mark, but its own entry says unfinished
    const dropForged = stream.add(taskOf("active", { dispatchId: "forged" }), old);
    const dropMalformed = stream.add("[]", old);
    const keepYoung = stream.add(taskOf("unknown"), now - 1_000);
    const counters = { undeliverable: 0, malformed: 0 };
    const sweeper = startTaskSweeper({ transport: { taskStream: stream.port }, kv, sweepMs: 60_000, logger: createSilentLogger(), counters, now: () => now });
    try {
      expect(await sweeper.sweep()).toBe(4);
      expect([...stream.messages.keys()].sort((a, b) => a - b)).toEqual([keepActive, keepPending, keepYoung]);
      expect(stream.messages.has(dropUnknown) || stream.messages.has(dropDone) || stream.messages.has(dropForged) || stream.messages.has(dropMalformed)).toBe(false);
      expect(counters).toEqual({ undeliverable: 4, malformed: 1 });
    } finally {
      sweeper.stop();
    }
  });
});

describe("fleet ports - the in-memory store", () => {
  it("fleet ports - compare-and-set, create-once, subject-style key filters and schema checks hold in memory", async () => {
    const stores = createMemoryStores();
    const kv = stores.store("runs", z.object({ n: z.number() }));
    const rev = await kv.create("a.b", { n: 1 });
    await expect(kv.create("a.b", { n: 2 })).rejects.toBeInstanceOf(StoreConflictError);
    await expect(kv.update("a.b", { n: 2 }, rev + 5)).rejects.toBeInstanceOf(StoreConflictError);
    await kv.update("a.b", { n: 2 }, rev);
    expect((await kv.get("a.b"))?.value).toEqual({ n: 2 });
    await kv.put("a.c.d", { n: 3 });
    await kv.put("x", { n: 4 });
    expect((await kv.keys("a.>")).sort()).toEqual(["a.b", "a.c.d"]);
    expect(await kv.keys("a.*")).toEqual(["a.b"]);
    await expect(kv.put("bad", { n: "no" } as unknown as { n: number })).rejects.toThrow(/bad/);
    // Another view of the same store with another schema reads a value it refuses as absent.
    expect(await stores.store("runs", z.object({ s: z.string() })).get("x")).toBeUndefined();
    await kv.purge("a.b");
    expect(await kv.get("a.b")).toBeUndefined();
    expect(keyMatches(">", "a")).toBe(true);
    expect(keyMatches("a.>", "a")).toBe(false);
  });
});

describe("fleet ports - no responders, by class", () => {
  it("fleet ports - the NATS client's NoRespondersError, and a RequestError caused by one, are no responders; a timeout or a look-alike message is not", () => {
    const direct = new errors.NoRespondersError("pf.api.run.start");
    expect(isNoResponders(direct)).toBe(true);
    expect(isNoResponders(new errors.RequestError("no responders", { cause: direct }))).toBe(true);
    expect(isNoResponders(new errors.TimeoutError())).toBe(false);
    expect(isNoResponders(new errors.RequestError("timeout", { cause: new errors.TimeoutError() }))).toBe(false);
    expect(isNoResponders(new Error("503 no responders available"))).toBe(false);
  });
});
