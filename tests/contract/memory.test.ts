/**
 * The transport contract on the memory adapter, on both wires (strict: JSON and zod
 * like NATS; fast: objects by reference), plus what only the memory adapter has: the
 * embedded single-connection factory, ack-wait redelivery, the dedupe window,
 * JSON-only payloads in strict mode and hub statistics.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryHub, createMemoryTransport, type MemoryHub, type MemoryHubOptions } from "../../src/transport/memory/index.js";
import type { TaskDelivery } from "../../src/transport/port.js";
import { Collector, makeDecision, makeReport, makeTask, uniq } from "./contract-support.js";
import { describeTransportContract } from "./transport-contract.js";

const SHORT_ACK_WAIT_MS = 200;

for (const wire of ["strict", "fast"] as const) {
  describeTransportContract(`memory ${wire}`, { validates: wire === "strict" }, async () => {
    const hub = createMemoryHub({ wire });
    let short: MemoryHub | undefined;
    return {
      connect: async () => hub.connect(),
      connectShortAckWait: async () => (short ??= createMemoryHub({ wire, ackWaitMs: SHORT_ACK_WAIT_MS })).connect(),
      shortAckWaitMs: SHORT_ACK_WAIT_MS,
      inject: async (kind, raw, runId) => hub.injectRaw(kind, raw, runId),
      cleanup: async () => {
        await hub.close();
        await short?.close();
      },
    };
  });
}

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("memory transport", () => {
  let hub: MemoryHub | undefined;
  const strictHub = (options: MemoryHubOptions = {}): MemoryHub => (hub = createMemoryHub({ wire: "strict", ...options }));
  afterEach(async () => {
    vi.useRealTimers();
    await hub?.close();
    hub = undefined;
  });

  it("memory transport - createMemoryTransport closes its own hub on close()", async () => {
    const t = createMemoryTransport();
    const got = new Collector<TaskDelivery>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      got.push(d);
      await d.ack();
    });
    await t.dispatch(makeTask("etl/extract", "run_1", "extract"));
    await got.waitFor(1, "delivery");
    await t.close();
    await expect(t.readHistory("run_1")).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
  });

  it("memory transport - the fast wire is the default and passes messages by reference", async () => {
    hub = createMemoryHub();
    const t = hub.connect();
    const decision = makeDecision("run_1", 1);
    await t.appendDecision(decision, 0);
    expect((await t.readHistory("run_1")).messages[0]!.message).toBe(decision);
    expect(t.capabilities.maxPayload).toBe(1024 * 1024);
  });

  it("memory transport - strict: refuses a payload that is not JSON with PAYLOAD_NOT_JSON", async () => {
    const t = strictHub().connect();
    await expect(t.dispatch(makeTask("etl/x", "run_1", "x", { input: { big: 10n } }))).rejects.toMatchObject({ code: "PAYLOAD_NOT_JSON" });
    await expect(t.publishReport({ ...makeReport("run_1", 1), output: { big: 1n } })).rejects.toMatchObject({ code: "PAYLOAD_NOT_JSON" });
  });

  it("memory transport - strict: enforces a configured maxPayload", async () => {
    const t = strictHub({ maxPayload: 4096 }).connect();
    expect(t.capabilities.maxPayload).toBe(4096);
    await expect(t.publishReport({ ...makeReport("run_1", 1), output: "x".repeat(4096) })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await expect(t.publishReport(makeReport("run_1", 2))).resolves.toBeUndefined();
  });

  it("memory transport - refuses an executor key that is not namespace/name", async () => {
    await expect(strictHub().connect().dispatch(makeTask("no-slash", "run_1", "x"))).rejects.toMatchObject({ code: "WIRE_MESSAGE_INVALID" });
    hub = createMemoryHub({ wire: "fast" });
    await expect(hub.connect().dispatch(makeTask("no-slash", "run_1", "x"))).rejects.toMatchObject({ code: "WIRE_MESSAGE_INVALID" });
  });

  it("memory transport - accepts the same dispatchId and epoch again once the duplicate window has passed", async () => {
    let now = 1_000;
    const t = strictHub({ duplicateWindowMs: 100, now: () => now }).connect();
    const got = new Collector<TaskDelivery>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      got.push(d);
      await d.ack();
    });
    await t.dispatch(makeTask("etl/x", "run_1", "x"));
    await got.waitFor(1, "first delivery");
    now += 100;
    await t.dispatch(makeTask("etl/x", "run_1", "x"));
    await got.waitFor(2, "delivery after the window");
    expect(got.items.map((d) => d.deliveryCount)).toEqual([1, 1]);
  });

  it("memory transport - redelivers after ackWaitMs when its keep-alive is slower than the ack wait", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval"] });
    const t = strictHub({ ackWaitMs: 100 }).connect();
    const got = new Collector<TaskDelivery>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 2, keepAliveMs: 10_000 }, async (d) => got.push(d));
    await t.dispatch(makeTask("etl/x", "run_1", "x"));
    await got.waitFor(1, "first delivery");
    const first = got.items[0]!;
    vi.advanceTimersByTime(80);
    first.working();
    vi.advanceTimersByTime(80);
    await nextMacrotask();
    expect(got.items).toHaveLength(1);
    vi.advanceTimersByTime(20);
    await got.waitFor(2, "redelivery after ack wait");
    expect(got.items[1]!.deliveryCount).toBe(2);
    // The expired delivery no longer owns the message: its late ack changes nothing.
    await first.ack();
    await got.items[1]!.ack();
    expect(hub!.stats()).toMatchObject({ queued: 0, delayed: 0 });
  });

  it("memory transport - naks the delivery when its handler rejects", async () => {
    const t = strictHub().connect();
    const got = new Collector<TaskDelivery>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      got.push(d);
      if (d.deliveryCount === 1) throw new Error("handler bug");
      await d.ack();
    });
    await t.dispatch(makeTask("etl/x", "run_1", "x"));
    await got.waitFor(2, "redelivery after the handler rejected");
    expect(got.items.map((d) => d.deliveryCount)).toEqual([1, 2]);
  });

  it("memory transport - counts an injected task that names no namespace as malformed", () => {
    strictHub().injectRaw("task", { nothing: "here" });
    expect(hub!.stats().malformed).toBe(1);
  });

  it("memory transport - keeps one history per run, one sequence counter per hub, and reports hub statistics", async () => {
    const t = strictHub().connect();
    const [r1, r2] = [`run_${uniq()}`, `run_${uniq()}`];
    const a = await t.appendDecision(makeDecision(r1, 1), 0);
    const b = await t.appendDecision(makeDecision(r2, 1), 0);
    await t.publishReport(makeReport(r1, 2));
    expect([a, b]).toEqual([1, 2]);
    expect(await t.readHistory(r1)).toEqual({ messages: [{ seq: 1, message: makeDecision(r1, 1) }, { seq: 3, message: makeReport(r1, 2) }], lastDecisionSeq: 1 });
    expect(hub!.stats()).toMatchObject({ runs: 2, connections: 1, queued: 0, malformed: 0, refused: 0 });
  });
});
