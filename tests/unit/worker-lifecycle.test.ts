/**
 * The worker's contract with its transport and its owner: concurrency, ack only
 * after the result is stored, nak when it cannot be, graceful and forced stop,
 * and option checks.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createRegistry } from "../../src/registry/registry.js";
import { createMemoryHub } from "../../src/transport/memory/index.js";
import type { LiveSignal, Report } from "../../src/transport/messages.js";
import type { TaskDelivery, Transport } from "../../src/transport/port.js";
import { createWorker } from "../../src/worker/index.js";
import { ManualClock, deferred, nextMacrotask, roundTrip, startRig, type Rig } from "./worker-harness.js";

/** Wraps a transport: records stores and settlements in `log`, can hold or fail a publish. */
function spyTransport(inner: Transport, log: string[], control: { hold?: Promise<void>; failOnce?: Set<string> } = {}): Transport {
  const wrapDelivery = (d: TaskDelivery): TaskDelivery => ({
    message: d.message,
    deliveryCount: d.deliveryCount,
    working: () => {
      log.push("working");
      d.working();
    },
    ack: async () => {
      log.push(`ack #${d.deliveryCount}`);
      await d.ack();
    },
    nak: (ms) => {
      log.push(`nak #${d.deliveryCount}`);
      d.nak(ms);
    },
    term: () => {
      log.push("term");
      d.term();
    },
  });
  return {
    kind: inner.kind,
    capabilities: inner.capabilities,
    appendDecision: (d, expected) => inner.appendDecision(d, expected),
    appendChildEnd: (m) => inner.appendChildEnd(m),
    async publishReport(report: Report) {
      if (report.type === "attempt.succeeded" && control.hold) await control.hold;
      if (control.failOnce?.delete(report.type)) throw new Error(`store of ${report.type} failed`);
      await inner.publishReport(report);
      log.push(`stored ${report.type}`);
    },
    appendSignal: (s) => inner.appendSignal(s),
    publishLive(signal: LiveSignal) {
      log.push(`live ${signal.type}`);
      inner.publishLive(signal);
    },
    readHistory: (r) => inner.readHistory(r),
    subscribeReports: (r, after, h) => inner.subscribeReports(r, after, h),
    followHistory: (r, after, h) => inner.followHistory(r, after, h),
    subscribeLive: (r, h) => inner.subscribeLive(r, h),
    dispatch: (t) => inner.dispatch(t),
    consumeTasks: (o, h) => inner.consumeTasks(o, (d) => h(wrapDelivery(d))),
    publishControl: (m) => inner.publishControl(m),
    subscribeControl: (h) => inner.subscribeControl(h),
    deleteHistory: (r) => inner.deleteHistory(r),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

describe("worker lifecycle", () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it("worker - runs at most `concurrency` executors at once", async () => {
    const gates = new Map<string, () => void>();
    let running = 0;
    let most = 0;
    const twoRunning = deferred();
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", (input: { task: string }) => {
          running++;
          most = Math.max(most, running);
          if (running === 2) twoRunning.resolve();
          return new Promise<null>((resolve) =>
            gates.set(input.task, () => {
              running--;
              resolve(null);
            }),
          );
        }),
      { concurrency: 2 },
    );
    for (let i = 0; i < 5; i++) await rig.coordinator.dispatch(rig.task(`t${i}`));
    await twoRunning.promise;
    await roundTrip(rig.coordinator);
    expect(running).toBe(2);
    for (let i = 0; i < 5; i++) {
      for (let turn = 0; turn < 50 && !gates.has(`t${i}`); turn++) await nextMacrotask();
      expect(running, `t${i} runs with at most one other`).toBeLessThanOrEqual(2);
      gates.get(`t${i}`)!();
      await rig.result(`t${i}`);
    }
    expect(most).toBe(2);
    await roundTrip(rig.coordinator); // the last ack follows its stored report
    expect(rig.worker.stats()).toMatchObject({ completed: 5, inFlight: 0 });
  });

  it("worker - acks only after the report is stored", async () => {
    const log: string[] = [];
    const hold = deferred();
    const ran = deferred();
    rig = await startRig((r) => r.namespace("t").register("run", (_i, ctx) => (ctx.heartbeat(), ran.resolve(), "ok")), {
      wrap: (t) => spyTransport(t, log, { hold: hold.promise }),
    });
    await rig.coordinator.dispatch(rig.task("a"));
    await ran.promise;
    await roundTrip(rig.coordinator);
    expect(log).toEqual(["working"]);
    hold.resolve();
    await rig.result("a");
    await roundTrip(rig.coordinator);
    expect(log).toEqual(["working", "stored attempt.succeeded", "ack #1"]);
  });

  it("worker - naks when the result cannot be stored, so the attempt is redone", async () => {
    const log: string[] = [];
    let runs = 0;
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", () => {
          runs++;
          return "ok";
        }),
      { requeueDelayMs: 0, wrap: (t) => spyTransport(t, log, { failOnce: new Set(["attempt.succeeded"]) }) },
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await rig.result("a");
    await roundTrip(rig.coordinator);
    expect(log).toEqual(["nak #1", "stored attempt.succeeded", "ack #2"]);
    expect(runs).toBe(2);
    expect(rig.worker.stats()).toMatchObject({ completed: 1, requeued: 1 });
  });

  it("worker - graceful stop takes no new tasks and waits for in-flight attempts to finish", async () => {
    const finish = deferred<string>();
    const running = deferred();
    rig = await startRig((r) =>
      r.namespace("t").register("run", () => {
        running.resolve();
        return finish.promise;
      }),
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await running.promise;
    let stopped = false;
    const stopping = rig.worker.stop().then(() => (stopped = true));
    await rig.coordinator.dispatch(rig.task("b"));
    await roundTrip(rig.coordinator);
    expect(stopped).toBe(false);
    finish.resolve("done");
    await stopping;
    const { messages } = await rig.coordinator.readHistory(rig.runId);
    expect(messages.map((m) => (m.message.kind === "report" ? `${m.message.task} ${m.message.type}` : "?"))).toEqual(["a attempt.succeeded"]);
    expect(rig.hub.stats().queued).toBe(1);
    await expect(rig.worker.start()).rejects.toMatchObject({ code: "USAGE" });
  });

  it("worker - hands in-flight attempts back after the stop timeout, and another worker finishes them", async () => {
    const clock = new ManualClock();
    const running = deferred();
    let firstSignal: AbortSignal | undefined;
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", (_input, ctx) => {
          firstSignal = ctx.signal;
          running.resolve();
          return new Promise(() => undefined); // never settles
        }),
      { clock },
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await running.promise;
    const stopping = rig.worker.stop({ timeoutMs: 5_000 });
    await nextMacrotask();
    clock.advance(5_000);
    await stopping;
    expect(firstSignal?.reason).toMatchObject({ code: "TASK_CANCELLED" });
    expect(rig.worker.stats()).toMatchObject({ inFlight: 0, requeued: 1 });

    const registry = createRegistry();
    registry.namespace("t").register("run", (_input, ctx) => `redone on delivery ${ctx.attempt}`);
    const second = createWorker({ transport: rig.hub.connect(), registry, workerId: "w2" });
    await second.start();
    expect(await rig.result("a")).toMatchObject({ type: "attempt.succeeded", workerId: "w2" });
    await second.stop();
  });

  it("worker - a forced stop hands in-flight attempts back at once", async () => {
    const running = deferred();
    rig = await startRig((r) =>
      r.namespace("t").register("run", () => {
        running.resolve();
        return new Promise(() => undefined);
      }),
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await running.promise;
    await rig.worker.stop({ graceful: false });
    expect(rig.worker.stats()).toMatchObject({ inFlight: 0, requeued: 1 });
    expect(rig.hub.stats().queued).toBe(1);
  });

  it("worker - refuses to start with an empty registry and rejects bad options", async () => {
    const hub = createMemoryHub();
    try {
      const worker = createWorker({ transport: hub.connect(), registry: createRegistry() });
      await expect(worker.start()).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("no executors") });
      expect(() => createWorker({ transport: hub.connect(), registry: createRegistry(), concurrency: 0 })).toThrow(/concurrency/);
      expect(() => createWorker({ transport: hub.connect(), registry: {} as never })).toThrow(/registry/);
      expect(createWorker({ transport: hub.connect(), registry: createRegistry() }).id).toMatch(/-\d+-[0-9a-f]{6}$/);
    } finally {
      await hub.close();
    }
  });
});
