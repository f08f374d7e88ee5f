/**
 * DESIGN §8 "Timeouts": `timeoutMs` is start-to-close, `queueTimeoutMs` bounds
 * dispatch-to-start. The pure rules (decide + attempt-timers) with hand-made triggers,
 * then the embedded engine under a backlog (real time: the wait in the queue must not
 * count) and a queue timeout (fake time).
 */
import { afterEach, describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { createRegistry } from "../../src/registry/registry.js";
import { decide, DEFAULT_DECIDE_SETTINGS, type DecideRandom, type Decided, type Effect } from "../../src/runtime/core/decide.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { createRunState, foldEvents, type RunState } from "../../src/runtime/core/run-state.js";
import { WIRE_VERSION, type Decision, type StoredMessage, type TaskMessage } from "../../src/transport/messages.js";
import { createFakeClock } from "../support/fake-clock.js";
import { gate, testEngine, waitForEvent, type TestEngine } from "../support/runtime-fixtures.js";

const runId = "r1";
const T0 = 1_000_000;
const OPTIONS = { schedule: "phases", onFailure: "fail-fast" } as const;
const S = DEFAULT_DECIDE_SETTINGS;

function fixedRandom(): DecideRandom {
  let n = 0;
  return { jitter: () => 0.5, token: () => `t-${String(++n).padStart(16, "0")}` };
}
const dispatches = (d: Decided): TaskMessage[] => d.effects.flatMap((fx) => (fx.type === "dispatch" ? [fx.message] : []));
const timers = (d: Decided) => d.effects.filter((fx): fx is Extract<Effect, { type: "timer" }> => fx.type === "timer").map((fx) => [fx.key, fx.at]);
const cancelled = (d: Decided) => d.effects.filter((fx) => fx.type === "cancelTimer").map((fx) => (fx as { key: string }).key);

function oneTask(options: { timeoutMs?: number; queueTimeoutMs?: number; retries?: number }): Workflow<unknown> {
  const wf = workflow("to", { version: "1" });
  wf.state("s").task("a", { executor: "t/a", backoff: { initialMs: 10, maxMs: 10 }, ...options });
  return wf;
}

function start(wf: Workflow<unknown>): { st: RunState; first: Decided; m: TaskMessage; random: DecideRandom } {
  const st = createRunState(runId, runModelOf(compile(wf), wf));
  const random = fixedRandom();
  const first = decide(st, { type: "start", input: {}, options: OPTIONS, owner: "c1", epoch: 1 }, T0, random);
  return { st, first, m: dispatches(first)[0]!, random };
}

describe("runtime - timeouts from the start (pure)", () => {
  it("runtime - a dispatch sets no timeout, only the watchdog; the timeout runs from the start heard of", () => {
    const { st, first, m, random } = start(oneTask({ timeoutMs: 1000 }));
    expect(m.deadline).toBeNull();
    expect(m.timeoutMs).toBe(1000);
    expect(first.events.find((e) => e.type === "task.dispatched")).toMatchObject({ deadline: null });
    expect(timers(first)).toEqual([[`watchdog:${m.dispatchId}`, T0 + S.watchdogMs]]);
    // Waited 60 s in the queue, then started: the backstop is armed from the start, the watchdog dropped.
    const started = decide(st, { type: "started", dispatchId: m.dispatchId, startedAt: T0 + 60_000 }, T0 + 60_200, random);
    expect(timers(started)).toEqual([[`timeout:${m.dispatchId}`, T0 + 60_000 + 1000 + S.timeoutGraceMs]]);
    expect(cancelled(started)).toEqual([`queue:${m.dispatchId}`, `watchdog:${m.dispatchId}`]);
    // Hearing of the same start again (a heartbeat) changes nothing.
    expect(decide(st, { type: "started", dispatchId: m.dispatchId, startedAt: T0 + 60_000 }, T0 + 65_000, random).effects).toEqual([]);
    // A timer before the backstop's time is a no-op; at it, the attempt times out.
    expect(decide(st, { type: "timer", key: `timeout:${m.dispatchId}` }, T0 + 60_000 + 1000, random).events).toEqual([]);
    const due = decide(st, { type: "timer", key: `timeout:${m.dispatchId}` }, T0 + 60_000 + 1000 + S.timeoutGraceMs, random);
    expect(due.events.map((e) => e.type)).toEqual(["task.failed", "run.failed"]);
    expect(st.record.tasks[0]!.error?.code).toBe("TASK_TIMEOUT");
    expect(due.effects).toContainEqual(expect.objectContaining({ type: "control", message: expect.objectContaining({ type: "cancel.attempt", dispatchId: m.dispatchId }) }));
  });

  it("runtime - a redelivered attempt that starts again moves its backstop to the later start", () => {
    const { st, m, random } = start(oneTask({ timeoutMs: 1000 }));
    decide(st, { type: "started", dispatchId: m.dispatchId, startedAt: T0 + 100 }, T0 + 300, random);
    const again = decide(st, { type: "started", dispatchId: m.dispatchId, startedAt: T0 + 30_000 }, T0 + 30_200, random);
    expect(timers(again)).toEqual([[`timeout:${m.dispatchId}`, T0 + 30_000 + 1000 + S.timeoutGraceMs]]);
    // The old backstop's timer finds nothing due.
    expect(decide(st, { type: "timer", key: `timeout:${m.dispatchId}` }, T0 + 100 + 1000 + S.timeoutGraceMs, random).events).toEqual([]);
  });

  it("runtime - queueTimeoutMs: the message carries startBy; never started by then fails the attempt with QUEUE_TIMEOUT, retried per retries", () => {
    const { st, first, m, random } = start(oneTask({ timeoutMs: 1000, queueTimeoutMs: 5000, retries: 1 }));
    expect(m.startBy).toBe(T0 + 5000);
    expect(first.events.find((e) => e.type === "task.dispatched")).toMatchObject({ startBy: T0 + 5000 });
    expect(timers(first)).toEqual([
      [`watchdog:${m.dispatchId}`, T0 + S.watchdogMs],
      [`queue:${m.dispatchId}`, T0 + 5000],
    ]);
    const due = decide(st, { type: "timer", key: `queue:${m.dispatchId}` }, T0 + 5000, random);
    expect(due.events[0]).toMatchObject({ type: "task.retrying", attempt: 1, nextAttempt: 2, error: { code: "QUEUE_TIMEOUT", retryable: true } });
    expect(due.effects).toContainEqual(expect.objectContaining({ type: "control", message: expect.objectContaining({ type: "cancel.attempt", dispatchId: m.dispatchId }) }));
    // The retry gets a fresh queue deadline.
    const retry = decide(st, { type: "timer", key: "retry:s\u00001\u0000a" }, T0 + 5010, random);
    expect(dispatches(retry)[0]).toMatchObject({ attempt: 2, startBy: T0 + 5010 + 5000 });
  });

  it("runtime - queueTimeoutMs: an attempt whose start was heard of is not failed at its queue deadline", () => {
    const { st, m, random } = start(oneTask({ queueTimeoutMs: 5000 }));
    const started = decide(st, { type: "started", dispatchId: m.dispatchId, startedAt: T0 + 4999 }, T0 + 4999, random);
    expect(cancelled(started)).toEqual([`queue:${m.dispatchId}`]);
    // Without timeoutMs the watchdog stays (heartbeats keep it quiet).
    expect(timers(started)).toEqual([]);
    expect(decide(st, { type: "timer", key: `queue:${m.dispatchId}` }, T0 + 5000, random).events).toEqual([]);
  });

  it("runtime - after a takeover the new holder knows no start: watchdog first, the queue deadline after a notice period, the backstop from the start a heartbeat tells", () => {
    const wf = oneTask({ timeoutMs: 1000, queueTimeoutMs: 5000 });
    const { first } = start(wf);
    const stored: StoredMessage[] = [{ seq: 1, message: { v: WIRE_VERSION, kind: "decision", runId, by: "c1", epoch: 1, through: 0, at: T0, events: first.events } satisfies Decision }];
    const st = foldEvents(createRunState(runId, runModelOf(compile(wf), wf)), historyEvents(stored));
    const m = dispatches(first)[0]!;
    const random = fixedRandom();
    const now = T0 + 4000;
    const resumed = decide(st, { type: "resume", owner: "c2", epoch: 2 }, now, random);
    expect(timers(resumed)).toEqual([
      [`watchdog:${m.dispatchId}`, now + S.watchdogMs],
      [`queue:${m.dispatchId}`, now + S.startNoticeMs],
    ]);
    // A heartbeat: started 3 s ago. The attempt is running, so its queue deadline no longer applies.
    const heard = decide(st, { type: "started", dispatchId: m.dispatchId, startedAt: now - 3000 }, now + 10, random);
    expect(timers(heard)).toEqual([[`timeout:${m.dispatchId}`, now - 3000 + 1000 + S.timeoutGraceMs]]);
    expect(decide(st, { type: "timer", key: `queue:${m.dispatchId}` }, now + S.startNoticeMs, random).events).toEqual([]);
  });
});

describe("runtime - a backlog does not count against timeoutMs (embedded, real time)", () => {
  let engine: Engine | undefined;
  afterEach(async () => {
    await engine?.close();
    engine = undefined;
  });

  async function backlog(tasks: number, ms: number, timeoutMs: number, concurrency: number) {
    const registry = createRegistry();
    registry.namespace("w").register("sleep", (_input, ctx) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve({ ok: true }), ms);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason as Error);
      });
    }));
    const wf = workflow("backlog", { version: "1" });
    const s = wf.state("s");
    for (let i = 0; i < tasks; i++) s.task(`t${i}`, { executor: "w/sleep", timeoutMs });
    engine = createEngine({ registry, concurrency });
    return (await engine.run(wf, {})).result();
  }

  it("runtime - 40 tasks of 300 ms on 4 slots, each timeoutMs 1000, all succeed (about 3 s of queue for the last)", async () => {
    const record = await backlog(40, 300, 1000, 4);
    expect(record.status).toBe("succeeded");
    expect(record.tasks.filter((t) => t.status === "succeeded")).toHaveLength(40);
    expect(record.tasks.every((t) => t.attempts === 1 && t.error === undefined)).toBe(true);
  }, 60_000);

  it("runtime - issue 21: 6 tasks of 1 s, timeoutMs 1500, concurrency 2, succeed", async () => {
    const record = await backlog(6, 1000, 1500, 2);
    expect(record.status).toBe("succeeded");
    expect(record.tasks.every((t) => t.status === "succeeded" && t.attempts === 1)).toBe(true);
  }, 60_000);
});

describe("runtime - queueTimeoutMs (embedded, fake time)", () => {
  let t: TestEngine | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("runtime - a task stuck behind a busy slot fails its attempt with QUEUE_TIMEOUT, and its retry runs once the slot is free", async () => {
    const clock = createFakeClock(T0);
    t = testEngine({ clock, random: () => 0.5, concurrency: 1 });
    const blocking = gate();
    const release = gate();
    const calls: string[] = [];
    t.registry.namespace("t").register("block", async () => {
      calls.push("block");
      blocking.open();
      await release.opened;
      return { blocked: true };
    });
    t.registry.namespace("t").register("quick", (_input, ctx) => {
      calls.push(`quick#${ctx.attempt}`);
      return { quick: ctx.attempt };
    });
    const wf = workflow("queue", { version: "1" });
    const s = wf.state("s");
    s.task("block", { executor: "t/block" });
    s.task("quick", { executor: "t/quick", queueTimeoutMs: 2000, retries: 1, backoff: { initialMs: 100, maxMs: 100 } });
    const run = await t.engine.run(wf, {});
    await blocking.opened;
    await clock.advance(2000);
    const retrying = await waitForEvent(run, "task.retrying", (e) => e.task === "quick");
    expect(retrying).toMatchObject({ attempt: 1, at: T0 + 2000, error: { code: "QUEUE_TIMEOUT" } });
    expect(retrying.error.message).toContain("queueTimeoutMs");
    release.open();
    await clock.advance(100);
    await waitForEvent(run, "task.dispatched", (e) => e.task === "quick" && e.attempt === 2);
    await clock.flush();
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.tasks.find((x) => x.task === "quick")).toMatchObject({ status: "succeeded", attempts: 2, output: { quick: 2 } });
    // The timed-out first attempt never ran: its message was refused as cancelled when the slot came free.
    expect(calls).toEqual(["block", "quick#2"]);
  });
});
