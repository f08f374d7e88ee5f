// A live signal (an attempt's start, progress or heartbeat, heard but never stored) is
// folded by `evolve` like any event: evolve is the only writer of run state. It shows the
// attempt as running on its worker, with its progress, exactly as the separate live-signal
// writer it replaces did; a signal for no current attempt changes nothing.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { decide } from "../../src/runtime/core/decide.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { createRecordFold, recordOfHistory } from "../../src/runtime/core/run-record.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { createRunState, evolve, liveSignalApplies, type RunState } from "../../src/runtime/core/run-state.js";
import { WIRE_VERSION, type LiveSignal, type StoredMessage } from "../../src/transport/messages.js";

const T0 = 1_700_000_000_000;
const runId = "r1";

/** A run whose one task has its first attempt dispatched, folded by the decider, and its stored history. */
function dispatched(): { state: RunState; history: StoredMessage[]; dispatchId: string } {
  const wf = workflow("live", { version: "1" });
  wf.state("s").task("a", { executor: "ns/a" });
  const state = createRunState(runId, runModelOf(compile(wf), wf));
  const first = decide(state, { type: "start", input: {}, options: { schedule: "phases", onFailure: "fail-fast" }, owner: "c1", epoch: 1 }, T0, { jitter: () => 0, token: () => "0123456789abcdef0123" });
  const history: StoredMessage[] = [{ seq: 1, message: { v: WIRE_VERSION, kind: "decision", runId, by: "c1", epoch: 1, through: 0, at: T0, events: first.events } }];
  const dispatchId = [...state.attempts.keys()][0]!;
  return { state, history, dispatchId };
}

const started = (dispatchId: string, over: Partial<Extract<LiveSignal, { type: "attempt.started" }>> = {}): LiveSignal => ({
  v: WIRE_VERSION,
  type: "attempt.started",
  runId,
  at: T0 + 10,
  state: "s",
  visit: 1,
  task: "a",
  attempt: 1,
  dispatchId,
  workerId: "w1",
  ...over,
});

describe("live signals through evolve", () => {
  it("live signal - evolve shows an attempt's start and progress on the record: running, on its worker, since it started", () => {
    const { state, dispatchId } = dispatched();
    expect(state.record.tasks[0]).toMatchObject({ status: "dispatched" });
    const signal = started(dispatchId, { startedAt: T0 + 5, delivery: 1 });
    expect(liveSignalApplies(state, signal)).toBe(true);
    expect(evolve(state, signal)).toBe(state);
    expect(state.record.tasks[0]).toMatchObject({ status: "running", workerId: "w1", startedAt: T0 + 5 });
    expect(state.record.tasks[0]).not.toHaveProperty("redeliveries");
    evolve(state, { ...signal, type: "attempt.progress", at: T0 + 20, done: 3, total: 10 });
    expect(state.record.tasks[0]).toMatchObject({ status: "running", progress: { done: 3, total: 10 }, startedAt: T0 + 5 });
    // A redelivery is what the worker's delivery count says; the same signal twice is not a second one.
    evolve(state, started(dispatchId, { workerId: "w2", delivery: 2 }));
    evolve(state, started(dispatchId, { workerId: "w2", delivery: 2 }));
    expect(state.record.tasks[0]).toMatchObject({ workerId: "w2", redeliveries: 1 });
  });

  it("live signal - one for no current attempt is not applied and leaves the state as it was", () => {
    const { state, dispatchId } = dispatched();
    const before = structuredClone(state.record);
    const stray = started(`${dispatchId}-other`);
    expect(liveSignalApplies(state, stray)).toBe(false);
    evolve(state, stray);
    expect(state.record).toEqual(before);
    expect(state.refused).toBe(0); // not history: nothing is counted as refused either
  });

  it("live signal - a reader's fold shows it through evolve, and a fold of the stored history never has it", () => {
    const { history, dispatchId } = dispatched();
    const fold = createRecordFold(runId);
    for (const e of historyEvents(history)) fold.apply(e);
    const shown = fold.apply(started(dispatchId, { startedAt: T0 + 5 }));
    expect(shown.tasks[0]).toMatchObject({ status: "running", workerId: "w1", startedAt: T0 + 5 });
    expect(recordOfHistory(history).tasks[0]).toMatchObject({ status: "dispatched" });
    expect(recordOfHistory(history).tasks[0]).not.toHaveProperty("workerId");
  });
});
