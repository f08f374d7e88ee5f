/**
 * The pure core without any transport: `evolve` (the fold), `decide` (the decider)
 * and `historyEvents` (stored order -> decided order). Reports and decisions are
 * built by hand, so each rule of DESIGN §3 is checked on the events it produces.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { serializeError } from "../../src/errors/serialize.js";
import { decide, DEFAULT_DECIDE_SETTINGS, type DecideRandom, type Decided, type Effect } from "../../src/runtime/core/decide.js";
import { historyEvents, lastDecisionSeqOf } from "../../src/runtime/core/history.js";
import { inputOfMessage } from "../../src/runtime/core/dataflow.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { createRunState, evolve, type RunState } from "../../src/runtime/core/run-state.js";
import { snapshotRunRecord } from "../../src/runtime/core/run-record.js";
import { WIRE_VERSION, type Decision, type DecisionEvent, type Report, type ReportRunEvent, type StoredMessage, type TaskMessage } from "../../src/transport/messages.js";

const runId = "r1";
const T0 = 1_000_000;
const OPTIONS = { schedule: "phases", onFailure: "fail-fast" } as const;

/** Tokens t-0000000000000001, ... (16+ chars) and a fixed jitter. */
function fixedRandom(jitter = 0.5): DecideRandom {
  let n = 0;
  return { jitter: () => jitter, token: () => `t-${String(++n).padStart(16, "0")}` };
}

function started(wf: Workflow<unknown>, options: { schedule: "phases" | "eager"; onFailure: "fail-fast" | "continue" } = OPTIONS, random = fixedRandom()) {
  const st = createRunState(runId, runModelOf(compile(wf), wf));
  const first = decide(st, { type: "start", input: { n: 1 }, options, owner: "c1", epoch: 1 }, T0, random);
  return { st, first, random };
}

const dispatches = (d: Decided): TaskMessage[] => d.effects.flatMap((fx) => (fx.type === "dispatch" ? [fx.message] : []));
const types = (events: readonly DecisionEvent[]) => events.map((e) => e.type);
const timers = (d: Decided) => d.effects.filter((fx): fx is Extract<Effect, { type: "timer" }> => fx.type === "timer");

let seq = 0;
/** The report a worker would store for `m`, as the fold reads it (with a fresh seq). */
function report(m: TaskMessage, outcome: { output: unknown } | { error: Error }, over: Partial<Report> = {}): ReportRunEvent {
  const base = { runId, at: T0 + 10, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, token: m.token, workerId: "w1", durationMs: 3, seq: ++seq };
  const r = "output" in outcome ? { ...base, type: "attempt.succeeded" as const, output: outcome.output } : { ...base, type: "attempt.failed" as const, error: serializeError(outcome.error) };
  return { ...r, ...over } as ReportRunEvent;
}

/** Fold a report and decide on it, as the shell does. */
function onReport(st: RunState, r: ReportRunEvent, now = T0 + 10, random = fixedRandom()): Decided {
  evolve(st, r);
  return decide(st, { type: "report", dispatchId: r.dispatchId }, now, random);
}

/** s: a, b, c side by side (one phase), then d after all three. */
function threeThenOne(options: { output?: z.ZodType } = {}) {
  const wf = workflow("dec", { version: "1" });
  const s = wf.state("s");
  const a = s.task("a", { executor: "t/a", ...(options.output ? { output: options.output } : {}) });
  const b = s.task("b", { executor: "t/b" });
  const c = s.task("c", { executor: "t/c", retries: 2, backoff: { initialMs: 1000, maxMs: 10_000, factor: 2 } });
  s.task("d", { executor: "t/d" }).dependsOn(a, b, c);
  return wf;
}

describe("runtime - decide and evolve (pure)", () => {
  it("runtime - decide: a phase of 3 tasks is decided as one batch of events, with 3 dispatches and a watchdog each", () => {
    const { st, first } = started(threeThenOne());
    expect(types(first.events)).toEqual(["run.started", "run.claimed", "state.entered", "task.dispatched", "task.dispatched", "task.dispatched"]);
    const sent = dispatches(first);
    expect(sent.map((m) => [m.task, m.attempt, m.dispatchId, m.epoch, m.round])).toEqual([
      ["a", 1, "r1/s/1/a/1", 1, 0],
      ["b", 1, "r1/s/1/b/1", 1, 0],
      ["c", 1, "r1/s/1/c/1", 1, 0],
    ]);
    expect(sent.every((m) => m.token.length >= 16 && m.input !== undefined)).toBe(true);
    expect(new Set(sent.map((m) => m.token)).size).toBe(3);
    expect(timers(first).map((fx) => [fx.key, fx.at])).toEqual(sent.map((m) => [`watchdog:${m.dispatchId}`, T0 + DEFAULT_DECIDE_SETTINGS.watchdogMs]));
    // decide folded its own events: the state already stands where a reader of the history would.
    expect(st.record.status).toBe("running");
    expect(st.record.tasks.map((t) => [t.task, t.status])).toEqual([
      ["a", "dispatched"],
      ["b", "dispatched"],
      ["c", "dispatched"],
    ]);
    // The token itself is never in a decision: only its hash.
    const dispatched = first.events.filter((e) => e.type === "task.dispatched");
    expect(JSON.stringify(first.events)).not.toContain(sent[0]!.token);
    expect(dispatched.every((e) => e.tokenHash.length === 32 && e.judged === false)).toBe(true);
  });

  it("runtime - a report of a task without an output schema settles it with no further decision event (two stored messages per task)", () => {
    const { st, first } = started(threeThenOne());
    const [a, b, c] = dispatches(first);
    const afterA = onReport(st, report(a!, { output: { a: 1 } }));
    expect(afterA.events).toEqual([]);
    expect(afterA.effects).toEqual([
      { type: "cancelTimer", key: `timeout:${a!.dispatchId}` },
      { type: "cancelTimer", key: `watchdog:${a!.dispatchId}` },
      { type: "cancelTimer", key: `queue:${a!.dispatchId}` },
    ]);
    expect(st.record.tasks[0]).toMatchObject({ task: "a", status: "succeeded", output: { a: 1 }, workerId: "w1", durationMs: 3 });
    expect(onReport(st, report(b!, { output: { b: 2 } })).events).toEqual([]);
    // The last report of the phase: the next phase is decided, still no task.succeeded.
    const afterC = onReport(st, report(c!, { output: { c: 3 } }));
    expect(types(afterC.events)).toEqual(["task.dispatched"]);
    const [d] = dispatches(afterC);
    // Each parent's output travels once: in `parents`; the input is named, not sent again.
    expect(d).toMatchObject({ task: "d", inputFrom: ["a", "b", "c"], parents: { a: { a: 1 }, b: { b: 2 }, c: { c: 3 } } });
    expect(d).not.toHaveProperty("input");
    expect(inputOfMessage(d!)).toEqual({ a: 1, b: 2, c: 3 });
    const end = onReport(st, report(d!, { output: { done: true } }));
    expect(types(end.events)).toEqual(["state.exited", "run.succeeded"]);
    expect(st.record).toMatchObject({ status: "succeeded", output: { done: true } });
  });

  it("runtime - a task with an output schema is judged: its report is followed by task.succeeded with the parsed output", () => {
    const { st, first } = started(threeThenOne({ output: z.object({ n: z.coerce.number() }) }));
    const a = dispatches(first)[0]!;
    expect(first.events.find((e) => e.type === "task.dispatched" && e.task === "a")).toMatchObject({ judged: true });
    const r = report(a, { output: { n: "7" } });
    evolve(st, r);
    expect(st.record.tasks[0]!.status).toBe("dispatched");
    expect(st.verdicts.has(a.dispatchId)).toBe(true);
    const judged = decide(st, { type: "report", dispatchId: a.dispatchId }, T0 + 11, fixedRandom());
    expect(judged.events).toEqual([{ type: "task.succeeded", state: "s", visit: 1, task: "a", attempt: 1, dispatchId: a.dispatchId, output: { n: 7 } }]);
    expect(st.record.tasks[0]).toMatchObject({ status: "succeeded", output: { n: 7 } });
  });

  it("runtime - a report with a wrong token, or of a stale attempt, is refused and changes nothing", () => {
    const { st, first } = started(threeThenOne());
    const [a, , c] = dispatches(first);
    const before = snapshotRunRecord(st.record);
    const forged = report(a!, { output: { forged: true } }, { token: "x".repeat(22) });
    const d1 = onReport(st, forged);
    expect(st.refused).toBe(1);
    expect(d1.events).toEqual([]);
    expect(d1.effects).toEqual([]); // a forged report disarms nothing
    expect(st.record).toEqual(before);
    expect(st.attempts.has(a!.dispatchId)).toBe(true);

    // c fails, is retried (attempt 2); a late report of attempt 1 with its own (right) token is stale.
    const failed = onReport(st, report(c!, { error: new Error("flaky") }), T0 + 20);
    expect(types(failed.events)).toEqual(["task.retrying"]);
    // backoff: base 1000, equal jitter 0.5 -> 750
    expect(failed.events[0]).toMatchObject({ attempt: 1, nextAttempt: 2, dueAt: T0 + 20 + 750, error: { message: "flaky" } });
    expect(timers(failed)).toEqual([{ type: "timer", key: "retry:s\u00001\u0000c", at: T0 + 770 }]);
    const again = decide(st, { type: "timer", key: "retry:s\u00001\u0000c" }, T0 + 770, fixedRandom());
    expect(types(again.events)).toEqual(["task.dispatched"]);
    const c2 = dispatches(again)[0]!;
    expect(c2).toMatchObject({ attempt: 2, dispatchId: "r1/s/1/c/2", dispatchedAt: T0 + 770 });
    const snapshot = snapshotRunRecord(st.record);
    const stale = onReport(st, report(c!, { output: { late: true } }));
    expect(st.refused).toBe(2);
    expect(stale.events).toEqual([]);
    expect(st.record).toEqual(snapshot);
    // A second report of an attempt already settled is refused too (a redelivered task reports twice).
    onReport(st, report(c2, { output: { c: 3 } }));
    expect(st.record.tasks.find((t) => t.task === "c")).toMatchObject({ status: "succeeded", attempts: 2, output: { c: 3 } });
    const settled = snapshotRunRecord(st.record);
    onReport(st, report(c2, { output: { c: "dup" } }));
    expect(st.refused).toBe(3);
    expect(st.record).toEqual(settled);
  });

  it("runtime - the watchdog re-dispatches an attempt nothing was heard of, and re-arms while it is heard of", () => {
    const wf = workflow("dog", { version: "1" });
    wf.state("s").task("a", { executor: "t/a" });
    const settings = { ...DEFAULT_DECIDE_SETTINGS, watchdogMs: 1000, maxLost: 1 };
    const st = createRunState(runId, runModelOf(compile(wf), wf));
    const random = fixedRandom();
    const first = decide(st, { type: "start", input: {}, options: OPTIONS, owner: "c1", epoch: 1 }, T0, random, settings);
    const a1 = dispatches(first)[0]!;
    const key = `watchdog:${a1.dispatchId}`;
    expect(timers(first)).toEqual([{ type: "timer", key, at: T0 + 1000 }]);
    // Heard of 400 ms ago (a live heartbeat): not lost, look again 1000 ms after that.
    const heard = decide(st, { type: "timer", key, lastHeardAt: T0 + 600 }, T0 + 1000, random, settings);
    expect(heard.events).toEqual([]);
    expect(timers(heard)).toEqual([{ type: "timer", key, at: T0 + 1600 }]);
    // Silent for the whole period: lost; retried at once under a new attempt (not counted against retries).
    const lost = decide(st, { type: "timer", key, lastHeardAt: T0 + 600 }, T0 + 1600, random, settings);
    expect(types(lost.events)).toEqual(["task.retrying", "task.dispatched"]);
    expect(lost.events[0]).toMatchObject({ attempt: 1, nextAttempt: 2, dueAt: T0 + 1600, error: { code: "ATTEMPT_LOST" } });
    const a2 = dispatches(lost)[0]!;
    expect(a2).toMatchObject({ attempt: 2, dispatchId: "r1/s/1/a/2" });
    expect(lost.effects).toContainEqual({ type: "cancelTimer", key });
    // The first attempt's report is stale now; the second one's settles the run.
    onReport(st, report(a1, { output: { late: true } }));
    expect(st.refused).toBe(1);
    expect(types(onReport(st, report(a2, { output: { ok: 1 } })).events)).toEqual(["state.exited", "run.succeeded"]);
    // A watchdog of a settled attempt does nothing.
    expect(decide(st, { type: "timer", key: `watchdog:${a2.dispatchId}` }, T0 + 99_999, random, settings)).toEqual({ events: [], stamped: [], effects: [] });
  });

  it("runtime - a lost attempt after maxLost re-dispatches fails the task", () => {
    const wf = workflow("dog2", { version: "1" });
    wf.state("s").task("a", { executor: "t/a", retries: 5 });
    const settings = { ...DEFAULT_DECIDE_SETTINGS, watchdogMs: 1000, maxLost: 1 };
    const st = createRunState(runId, runModelOf(compile(wf), wf));
    const random = fixedRandom();
    let d = decide(st, { type: "start", input: {}, options: OPTIONS, owner: "c1", epoch: 1 }, T0, random, settings);
    d = decide(st, { type: "timer", key: `watchdog:${dispatches(d)[0]!.dispatchId}` }, T0 + 1000, random, settings);
    expect(types(d.events)).toEqual(["task.retrying", "task.dispatched"]);
    d = decide(st, { type: "timer", key: `watchdog:${dispatches(d)[0]!.dispatchId}` }, T0 + 2000, random, settings);
    expect(types(d.events)).toEqual(["task.failed", "run.failed"]);
    expect(st.record.tasks[0]).toMatchObject({ status: "failed", attempts: 2, error: { code: "ATTEMPT_LOST" } });
  });

  it("runtime - fail-fast cancels the rest of the phase and fails the run; continue skips only the dependents", () => {
    for (const onFailure of ["fail-fast", "continue"] as const) {
      const { st, first } = started(threeThenOne(), { schedule: "phases", onFailure });
      const [a, b] = dispatches(first);
      const d = onReport(st, report(a!, { error: Object.assign(new Error("bad"), { retryable: false }) }));
      if (onFailure === "fail-fast") {
        expect(types(d.events)).toEqual(["task.failed", "task.cancelled", "task.cancelled", "run.failed"]);
        expect(d.effects).toContainEqual({ type: "control", message: { v: WIRE_VERSION, type: "cancel.run", runId, reason: 'task "s/a" failed (fail-fast)', round: 0 } });
        expect(st.record.status).toBe("failed");
      } else {
        expect(types(d.events)).toEqual(["task.failed", "task.skipped"]);
        expect(d.events[1]).toMatchObject({ task: "d", reason: 'upstream task "s/a" failed' });
        expect(onReport(st, report(b!, { output: {} })).events).toEqual([]);
        expect(st.record.status).toBe("running");
      }
    }
  });

  it("runtime - resume of a folded history judges waiting reports and re-arms timers, deciding nothing twice", () => {
    const { st, first } = started(threeThenOne({ output: z.object({}) }));
    const [a, b] = dispatches(first);
    // Fold what a new holder reads: the first batch, a judged report of a, a report of b.
    const fresh = createRunState(runId, st.model);
    for (const e of first.events) evolve(fresh, { ...e, runId, at: T0 });
    evolve(fresh, report(a!, { output: {} }));
    evolve(fresh, report(b!, { output: { b: 2 } }));
    const resumed = decide(fresh, { type: "resume", owner: "c2", epoch: 2 }, T0 + 50, fixedRandom());
    expect(types(resumed.events)).toEqual(["run.claimed", "task.succeeded"]);
    expect(resumed.events[1]).toMatchObject({ task: "a" });
    expect(dispatches(resumed)).toEqual([]);
    // c is still out: its watchdog is armed again, counting from now.
    expect(timers(resumed)).toEqual([{ type: "timer", key: "watchdog:r1/s/1/c/1", at: T0 + 50 + DEFAULT_DECIDE_SETTINGS.watchdogMs }]);
    expect(fresh.epoch).toBe(2);
  });

  it("runtime - historyEvents places a decision after the reports up to its through, before a report stored earlier than it", () => {
    const base = { v: WIRE_VERSION, kind: "decision", runId, by: "c1", epoch: 1, at: T0 } as const;
    const { first } = started(threeThenOne());
    const [a, b, c] = dispatches(first);
    const asReport = (m: TaskMessage): Report => ({ v: WIRE_VERSION, kind: "report", type: "attempt.succeeded", runId, at: T0, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, token: m.token, workerId: "w1", output: {}, durationMs: 1 });
    const d1: Decision = { ...base, through: 0, events: first.events };
    // The writer applied a's report (seq 2), decided x, then saw b's (seq 3) and decided y, in one batch stored at seq 5;
    // c's report (seq 4) was stored before that batch but applied after it.
    const x: DecisionEvent = { type: "task.skipped", state: "s", visit: 1, task: "x", reason: "x" };
    const y: DecisionEvent = { type: "task.skipped", state: "s", visit: 1, task: "y", reason: "y" };
    const d5: Decision = { ...base, through: 2, events: [x, { type: "through", seq: 3, at: base.at }, y] };
    const messages: StoredMessage[] = [
      { seq: 1, message: d1 },
      { seq: 2, message: asReport(a!) },
      { seq: 3, message: asReport(b!) },
      { seq: 4, message: asReport(c!) },
      { seq: 5, message: d5 },
    ];
    const order = historyEvents(messages).map((e) => (e.type === "attempt.succeeded" ? `report ${e.seq}` : e.type === "task.skipped" ? `decided ${e.task}` : e.type));
    expect(order).toEqual([...types(first.events), "report 2", "decided x", "report 3", "decided y", "report 4"]);
    expect(lastDecisionSeqOf(messages)).toBe(5);
    // Every event of a batch carries the batch's run id and time; the markers are not events.
    const events = historyEvents(messages);
    expect(events.some((e) => e.type === "through")).toBe(false);
    expect(events.filter((e) => e.type === "task.skipped").every((e) => e.runId === runId && e.at === T0)).toBe(true);
  });
});
