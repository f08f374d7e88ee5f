/**
 * The worker's contract with its transport and its owner: concurrency, ack only
 * after the result is stored, nak when it cannot be, graceful and forced stop,
 * and option checks.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createRegistry } from "../../src/registry/registry.js";
import { createMemoryHub } from "../../src/transport/memory/index.js";
import type { RunEvent } from "../../src/transport/messages.js";
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
    async publishEvent(e: RunEvent) {
      if (e.type === "attempt.succeeded" && control.hold) await control.hold;
      if (control.failOnce?.delete(e.type)) throw new Error(`store of ${e.type} failed`);
      await inner.publishEvent(e);
      log.push(`stored ${e.type}`);
    },
    subscribeEvents: (h) => inner.subscribeEvents(h),
    readRunEvents: (r) => inner.readRunEvents(r),
    dispatch: (t) => inner.dispatch(t),
    consumeTasks: (o, h) => inner.consumeTasks(o, (d) => h(wrapDelivery(d))),
    publishControl: (m) => inner.publishControl(m),
    subscribeControl: (h) => inner.subscribeControl(h),
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
      await rig.waitForEvent((e) => e.type === "attempt.started" && e.task === `t${i}`, `t${i} to start`);
      await nextMacrotask();
      gates.get(`t${i}`)!();
      await rig.result(`t${i}`);
    }
    expect(most).toBe(2);
    expect(rig.worker.stats()).toMatchObject({ completed: 5, inFlight: 0 });
  });

  it("worker - acks only after the result event is stored", async () => {
    const log: string[] = [];
    const hold = deferred();
    rig = await startRig((r) => r.namespace("t").register("run", (_i, ctx) => (ctx.heartbeat(), "ok")), {
      wrap: (t) => spyTransport(t, log, { hold: hold.promise }),
    });
    await rig.coordinator.dispatch(rig.task("a"));
    await rig.waitForEvent((e) => e.type === "attempt.started", "attempt.started");
    await roundTrip(rig.coordinator);
    expect(log).toEqual(["stored attempt.started", "working"]);
    hold.resolve();
    await rig.result("a");
    await roundTrip(rig.coordinator);
    expect(log).toEqual(["stored attempt.started", "working", "stored attempt.succeeded", "ack #1"]);
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
    expect(log).toEqual(["stored attempt.started", "nak #1", "stored attempt.started", "stored attempt.succeeded", "ack #2"]);
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
    const stored = await rig.coordinator.readRunEvents(rig.runId);
    expect(stored.map((e) => `${e.type === "attempt.started" || e.type === "attempt.succeeded" ? e.task : "?"} ${e.type}`)).toEqual([
      "a attempt.started",
      "a attempt.succeeded",
    ]);
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
