/**
 * The transport contract on the memory adapter, plus what only the memory adapter
 * has: the embedded single-connection factory, ack-wait redelivery, the dedupe
 * window, JSON-only payloads and hub statistics.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryHub, createMemoryTransport, type MemoryHub } from "../../src/transport/memory/index.js";
import type { TaskDelivery } from "../../src/transport/port.js";
import { Collector, makeEvent, makeTask, uniq } from "./contract-support.js";
import { describeTransportContract } from "./transport-contract.js";

describeTransportContract("memory", async () => {
  const hub = createMemoryHub();
  return {
    connect: async () => hub.connect(),
    injectMalformed: async (kind, raw) => hub.injectRaw(kind, raw),
    cleanup: () => hub.close(),
  };
});

const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("memory transport", () => {
  let hub: MemoryHub | undefined;
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
    await expect(t.readRunEvents("run_1")).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
  });

  it("memory transport - refuses a payload that is not JSON with PAYLOAD_NOT_JSON", async () => {
    hub = createMemoryHub();
    const t = hub.connect();
    await expect(t.dispatch(makeTask("etl/x", "run_1", "x", { input: { big: 10n } }))).rejects.toMatchObject({ code: "PAYLOAD_NOT_JSON" });
    const event = { type: "attempt.succeeded", runId: "run_1", at: 1, state: "s", visit: 1, task: "x", attempt: 1, dispatchId: "d", workerId: "w", output: { big: 1n }, durationMs: 1 } as const;
    await expect(t.publishEvent(event)).rejects.toMatchObject({ code: "PAYLOAD_NOT_JSON" });
  });

  it("memory transport - refuses an executor key that is not namespace/name", async () => {
    hub = createMemoryHub();
    await expect(hub.connect().dispatch(makeTask("no-slash", "run_1", "x"))).rejects.toMatchObject({ code: "WIRE_MESSAGE_INVALID" });
  });

  it("memory transport - accepts the same dispatchId again once the duplicate window has passed", async () => {
    let now = 1_000;
    hub = createMemoryHub({ duplicateWindowMs: 100, now: () => now });
    const t = hub.connect();
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

  it("memory transport - redelivers after ackWaitMs unless working() keeps the delivery alive", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    hub = createMemoryHub({ ackWaitMs: 100 });
    const t = hub.connect();
    const got = new Collector<TaskDelivery>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 2 }, async (d) => got.push(d));
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
    expect(hub.stats()).toMatchObject({ queued: 0, delayed: 0 });
  });

  it("memory transport - naks the delivery when its handler rejects", async () => {
    hub = createMemoryHub();
    const t = hub.connect();
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

  it("memory transport - counts an injected task that names no namespace as malformed", async () => {
    hub = createMemoryHub();
    hub.injectRaw("task", { nothing: "here" });
    expect(hub.stats().malformed).toBe(1);
  });

  it("memory transport - keeps one history per run and reports hub statistics", async () => {
    hub = createMemoryHub();
    const t = hub.connect();
    const [r1, r2] = [`run_${uniq()}`, `run_${uniq()}`];
    await t.publishEvent(makeEvent(r1, 1));
    await t.publishEvent(makeEvent(r2, 1));
    await t.publishEvent(makeEvent(r1, 2));
    expect(await t.readRunEvents(r1)).toEqual([makeEvent(r1, 1), makeEvent(r1, 2)]);
    expect(hub.stats()).toMatchObject({ runs: 2, connections: 1, queued: 0 });
  });
});
