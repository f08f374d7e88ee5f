import { describe, expect, it } from "vitest";
import { serializeError } from "../../src/errors/serialize.js";
import { applyRunEvent, emptyRunRecord, reduceRunEvents } from "../../src/runtime/run-record.js";
import { runRecordSchema } from "../../src/runtime/run-record-schema.js";
import type { RunEvent } from "../../src/transport/messages.js";

const runId = "run_1";
const ref = { state: "s", visit: 1, task: "a" };
const d = (attempt: number) => `${runId}/s/1/a/${attempt}`;
const err = serializeError(new Error("flaky"));

const history: RunEvent[] = [
  { runId, at: 1, type: "run.started", workflow: "w", version: "1", planHash: "h", input: { x: 1 }, options: { schedule: "phases", onFailure: "fail-fast" } },
  { runId, at: 2, type: "state.entered", state: "s", visit: 1, input: { x: 1 } },
  { runId, at: 3, type: "task.dispatched", ...ref, attempt: 1, dispatchId: d(1), executor: "t/a", deadline: 1003 },
  { runId, at: 4, type: "attempt.started", ...ref, attempt: 1, dispatchId: d(1), workerId: "w1" },
  { runId, at: 5, type: "attempt.progress", ...ref, attempt: 1, dispatchId: d(1), workerId: "w1", done: 1, total: 4 },
  // the coordinator's timeout settles attempt 1 ...
  { runId, at: 1003, type: "task.retrying", ...ref, attempt: 1, nextAttempt: 2, dueAt: 1100, error: err },
  // ... so this late report of attempt 1 is kept out of the verdicts
  { runId, at: 1004, type: "attempt.succeeded", ...ref, attempt: 1, dispatchId: d(1), workerId: "w1", output: { late: true }, durationMs: 1000 },
  { runId, at: 1100, type: "task.dispatched", ...ref, attempt: 2, dispatchId: d(2), executor: "t/a", deadline: null },
  { runId, at: 1101, type: "attempt.started", ...ref, attempt: 2, dispatchId: d(2), workerId: "w2" },
  { runId, at: 1102, type: "attempt.started", ...ref, attempt: 2, dispatchId: d(2), workerId: "w3" },
  { runId, at: 1105, type: "attempt.succeeded", ...ref, attempt: 2, dispatchId: d(2), workerId: "w3", output: { ok: true }, durationMs: 3 },
  { runId, at: 1106, type: "task.succeeded", ...ref, attempt: 2, dispatchId: d(2), output: { ok: true } },
  { runId, at: 1107, type: "attempt.succeeded", ...ref, attempt: 2, dispatchId: d(2), workerId: "w2", output: { dup: true }, durationMs: 9 },
  { runId, at: 1108, type: "state.exited", state: "s", visit: 1, output: { ok: true }, next: null },
  { runId, at: 1109, type: "run.succeeded", output: { ok: true } },
];

describe("runtime - run record", () => {
  it("runtime - folds a history into the run record, keeping settled attempts' reports out of the verdicts", () => {
    const record = reduceRunEvents(history);
    expect(record).toMatchObject({ runId, workflow: "w", version: "1", planHash: "h", status: "succeeded", input: { x: 1 }, output: { ok: true }, startedAt: 1, finishedAt: 1109, currentState: "s" });
    expect(record.states).toEqual([{ name: "s", visit: 1, status: "succeeded", enteredAt: 2, exitedAt: 1108, input: { x: 1 }, output: { ok: true }, next: null }]);
    expect(record.tasks).toHaveLength(1);
    expect(record.tasks[0]).toMatchObject({
      id: "s/a",
      executor: "t/a",
      status: "succeeded",
      attempts: 2,
      dispatchId: d(2),
      workerId: "w3",
      startedAt: 4,
      finishedAt: 1106,
      durationMs: 3,
      output: { ok: true },
      progress: { done: 1, total: 4 },
      redeliveries: 1,
    });
    expect(record.tasks[0]!.error).toBeUndefined();
    expect(runRecordSchema.parse(record)).toEqual(record);
  });

  it("runtime - shows a retrying task with its due time and last error", () => {
    const record = reduceRunEvents(history.slice(0, 7));
    expect(record.status).toBe("running");
    expect(record.tasks[0]).toMatchObject({ status: "retrying", dueAt: 1100, attempts: 1, error: { message: "flaky" } });
    expect(record.tasks[0]!.output).toBeUndefined();
  });

  it("runtime - applying events one by one equals folding them, also on a record parsed from JSON", () => {
    const incremental = emptyRunRecord(runId);
    for (const e of history.slice(0, 8)) applyRunEvent(incremental, e);
    const revived = runRecordSchema.parse(JSON.parse(JSON.stringify(incremental)));
    for (const e of history.slice(8)) applyRunEvent(revived, e);
    expect(revived).toEqual(reduceRunEvents(history));
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
      { runId, at: 10, type: "attempt.failed", ...ref, attempt: 1, dispatchId: d(1), workerId: "w1", error: err, durationMs: 6 },
    ]);
    expect(cancelled).toMatchObject({ status: "cancelled", reason: "stop", finishedAt: 9 });
    expect(cancelled.states[0]?.status).toBe("cancelled");
    expect(cancelled.tasks[0]).toMatchObject({ status: "cancelled", reason: "stop" });
    expect(cancelled.tasks[0]!.durationMs).toBeUndefined();
  });

  it("runtime - a task that never ran appears with the event that decided it", () => {
    const record = reduceRunEvents([
      history[0]!,
      history[1]!,
      { runId, at: 3, type: "task.failed", ...ref, attempt: 0, error: err },
      { runId, at: 3, type: "task.skipped", state: "s", visit: 1, task: "b", reason: 'upstream task "s/a" failed' },
    ]);
    expect(record.tasks.map((t) => [t.id, t.status, t.attempts, t.executor])).toEqual([
      ["s/a", "failed", 0, undefined],
      ["s/b", "skipped", 0, undefined],
    ]);
  });
});
