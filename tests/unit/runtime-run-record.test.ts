import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { serializeError } from "../../src/errors/serialize.js";
import { createRecordFold, reduceRunEvents } from "../../src/runtime/core/run-record.js";
import { runRecordSchema } from "../../src/runtime/core/run-record-schema.js";
import { createRunState, foldEvents, tokenHashOf } from "../../src/runtime/core/run-state.js";
import type { TaskContext } from "../../src/registry/types.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { createFakeClock } from "../support/fake-clock.js";
import { gate, testEngine, waitForEvent, type TestEngine } from "../support/runtime-fixtures.js";

const runId = "run_1";
const ref = { state: "s", visit: 1, task: "a" };
const d = (attempt: number) => `${runId}/s/1/a/${attempt}`;
const token = (attempt: number) => `token-of-attempt-${attempt}`;
const err = serializeError(new Error("flaky"));
const dispatched = (attempt: number, at: number, deadline: number | null, judged = false): RunEvent => ({
  runId,
  at,
  type: "task.dispatched",
  ...ref,
  attempt,
  dispatchId: d(attempt),
  executor: "t/a",
  deadline,
  tokenHash: tokenHashOf(token(attempt)),
  judged,
});
let seq = 100;
const succeeded = (attempt: number, at: number, workerId: string, output: unknown, durationMs: number, tok = token(attempt)): RunEvent => ({
  runId,
  at,
  type: "attempt.succeeded",
  ...ref,
  attempt,
  dispatchId: d(attempt),
  token: tok,
  workerId,
  output,
  durationMs,
  seq: ++seq,
});

const history: RunEvent[] = [
  { runId, at: 1, type: "run.started", workflow: "w", version: "1", planHash: "h", input: { x: 1 }, options: { schedule: "phases", onFailure: "fail-fast" } },
  { runId, at: 1, type: "run.claimed", owner: "c1~00", epoch: 1 },
  { runId, at: 2, type: "state.entered", state: "s", visit: 1, input: { x: 1 } },
  dispatched(1, 3, 1003),
  // the coordinator's timeout settles attempt 1 ...
  { runId, at: 1003, type: "task.retrying", ...ref, attempt: 1, nextAttempt: 2, dueAt: 1100, error: err },
  // ... so this late report of attempt 1 is refused
  succeeded(1, 1004, "w1", { late: true }, 1000),
  dispatched(2, 1100, null),
  // a report with a token nobody dispatched is refused
  succeeded(2, 1101, "mallory", { forged: true }, 1, "not-the-token-of-attempt-2"),
  // the report of attempt 2 is the verdict: no task.succeeded follows it
  succeeded(2, 1105, "w3", { ok: true }, 3),
  // a second report of the same attempt (the task was delivered twice) is refused
  succeeded(2, 1107, "w2", { dup: true }, 9),
  { runId, at: 1108, type: "state.exited", state: "s", visit: 1, output: { ok: true }, next: null },
  { runId, at: 1109, type: "run.succeeded", output: { ok: true } },
];

describe("runtime - run record", () => {
  it("runtime - folds a history into the run record; only the current attempt's report with its token counts", () => {
    const state = foldEvents(createRunState(runId), history);
    const record = state.record;
    expect(state.refused).toBe(3);
    expect(state.owner).toBe("c1~00");
    expect(record).toMatchObject({ runId, workflow: "w", version: "1", planHash: "h", status: "succeeded", input: { x: 1 }, output: { ok: true }, startedAt: 1, finishedAt: 1109, currentState: "s" });
    expect(record.states).toEqual([{ name: "s", visit: 1, status: "succeeded", enteredAt: 2, exitedAt: 1108, input: { x: 1 }, output: { ok: true }, next: null }]);
    expect(record.tasks).toHaveLength(1);
    expect(record.tasks[0]).toEqual({
      id: "s/a",
      state: "s",
      visit: 1,
      task: "a",
      executor: "t/a",
      status: "succeeded",
      attempts: 2,
      dispatchId: d(2),
      workerId: "w3",
      finishedAt: 1105,
      durationMs: 3,
      output: { ok: true },
    });
    expect(runRecordSchema.parse(record)).toEqual(record);
    expect(reduceRunEvents(history)).toEqual(record);
  });

  it("runtime - shows a retrying task with its due time and last error", () => {
    const record = reduceRunEvents(history.slice(0, 6));
    expect(record.status).toBe("running");
    expect(record.tasks[0]).toMatchObject({ status: "retrying", dueAt: 1100, attempts: 1, error: { message: "flaky" } });
    expect(record.tasks[0]!.output).toBeUndefined();
  });

  it("runtime - applying events one by one (a reader's fold) equals folding them, and the record survives JSON", () => {
    const fold = createRecordFold(runId);
    for (const e of history) fold.apply(e);
    expect(fold.state.record).toEqual(reduceRunEvents(history));
    expect(runRecordSchema.parse(JSON.parse(JSON.stringify(fold.state.record)))).toEqual(fold.state.record);
  });

  it("runtime - a judged task (output schema) waits for task.succeeded, whose output is the one recorded", () => {
    const events: RunEvent[] = [...history.slice(0, 3), dispatched(1, 3, null, true), succeeded(1, 5, "w1", { n: "7" }, 2)];
    const waiting = foldEvents(createRunState(runId), events);
    expect(waiting.record.tasks[0]).toMatchObject({ status: "dispatched", workerId: "w1" });
    expect(waiting.verdicts.has(d(1))).toBe(true);
    const record = reduceRunEvents([...events, { runId, at: 6, type: "task.succeeded", ...ref, attempt: 1, dispatchId: d(1), output: { n: 7 } }]);
    expect(record.tasks[0]).toMatchObject({ status: "succeeded", output: { n: 7 }, finishedAt: 6 });
  });

  it("runtime - redeliveries come from the worker's delivery count: the same start seen twice is not a redelivery", () => {
    const started = (workerId: string, delivery?: number) => ({ v: 3 as const, type: "attempt.started" as const, runId, at: 4, ...ref, attempt: 1, dispatchId: d(1), workerId, ...(delivery !== undefined ? { delivery } : {}) });
    const once = createRecordFold(runId);
    for (const e of history.slice(0, 4)) once.apply(e);
    // One start, seen twice (a viewer and a coordinator after a cancel both replay live signals), then the cancel.
    once.apply(started("w1", 1));
    once.apply(started("w1", 1));
    expect(once.state.record.tasks[0]!.redeliveries).toBeUndefined();
    once.apply({ runId, at: 9, type: "task.cancelled", ...ref, reason: "stop" });
    once.apply({ runId, at: 9, type: "run.cancelled", reason: "stop" });
    expect(once.state.record.tasks[0]!.redeliveries).toBeUndefined();
    // A real redelivery: the worker says it is the message's third delivery.
    const again = createRecordFold(runId);
    for (const e of history.slice(0, 4)) again.apply(e);
    again.apply(started("w1", 1));
    again.apply(started("w2", 3));
    expect(again.state.record.tasks[0]!.redeliveries).toBe(2);
    // A worker that sends no delivery count: a start on another worker counts, a repeat on the same one does not.
    const legacy = createRecordFold(runId);
    for (const e of history.slice(0, 4)) legacy.apply(e);
    legacy.apply(started("w1"));
    legacy.apply(started("w1"));
    expect(legacy.state.record.tasks[0]!.redeliveries).toBeUndefined();
    legacy.apply(started("w2"));
    expect(legacy.state.record.tasks[0]!.redeliveries).toBe(1);
  });

  it("runtime - a failed or cancelled run ends the running state with the same status", () => {
    const failed = reduceRunEvents([...history.slice(0, 4), { runId, at: 9, type: "run.failed", error: err }]);
    expect(failed.status).toBe("failed");
    expect(failed.error?.message).toBe("flaky");
    expect(failed.states[0]).toMatchObject({ status: "failed", exitedAt: 9 });
    const cancelled = reduceRunEvents([
      ...history.slice(0, 4),
      { runId, at: 9, type: "task.cancelled", ...ref, reason: "stop" },
      { runId, at: 9, type: "run.cancelled", reason: "stop" },
      { runId, at: 10, type: "attempt.failed", ...ref, attempt: 1, dispatchId: d(1), token: token(1), workerId: "w1", error: err, durationMs: 6, seq: ++seq },
    ]);
    expect(cancelled).toMatchObject({ status: "cancelled", reason: "stop", finishedAt: 9 });
    expect(cancelled.states[0]?.status).toBe("cancelled");
    expect(cancelled.tasks[0]).toMatchObject({ status: "cancelled", reason: "stop" });
    expect(cancelled.tasks[0]!.durationMs).toBeUndefined();
  });

  it("runtime - a task that never ran appears with the event that decided it", () => {
    const record = reduceRunEvents([
      history[0]!,
      history[2]!,
      { runId, at: 3, type: "task.failed", ...ref, attempt: 0, error: err },
      { runId, at: 3, type: "task.skipped", state: "s", visit: 1, task: "b", reason: 'upstream task "s/a" failed' },
    ]);
    expect(record.tasks.map((t) => [t.id, t.status, t.attempts, t.executor])).toEqual([
      ["s/a", "failed", 0, undefined],
      ["s/b", "skipped", 0, undefined],
    ]);
  });
});

describe("runtime - live signals on the record", () => {
  let t: TestEngine | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("runtime - an attempt running past 200 ms shows as running with its worker and progress on the live record, and nothing of it is stored", async () => {
    const clock = createFakeClock(1_000_000);
    t = testEngine({ clock });
    const held = gate();
    const inside = gate();
    const step = gate();
    t.registry.namespace("t").register("slow", async (_input: unknown, ctx: TaskContext) => {
      inside.open();
      await step.opened;
      ctx.progress(1, 4);
      await held.opened;
      return { ok: true };
    });
    const wf = workflow("live", { version: "1" });
    wf.state("s").task("slow", { executor: "t/slow", output: z.object({ ok: z.boolean() }) });
    const run = await t.engine.run(wf, {});
    await inside.opened;
    await clock.flush();
    expect(run.status().tasks[0]).toMatchObject({ status: "dispatched" });
    await clock.advance(200);
    // Said 200 ms in; the signal carries when the executor really started.
    expect(run.status().tasks[0]).toMatchObject({ status: "running", startedAt: 1_000_000 });
    expect(run.status().tasks[0]!.workerId).toBeDefined();
    step.open();
    await clock.flush();
    expect(run.status().tasks[0]).toMatchObject({ status: "running", startedAt: 1_000_000, progress: { done: 1, total: 4 } });
    held.open();
    await waitForEvent(run, "task.succeeded");
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    const stored = await t.events(run.runId);
    expect(stored.map((e) => e.type)).not.toContain("attempt.started");
    expect(stored.map((e) => e.type)).not.toContain("attempt.progress");
  });
});
