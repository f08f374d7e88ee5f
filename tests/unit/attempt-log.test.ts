/**
 * One attempts fold (runtime/core/attempt-log.ts) for the web view's task panel and the
 * archive's attempts table: both list what it lists, and it counts the report the record's
 * fold counts (the first with the attempt's token while the attempt is open).
 */
import { describe, expect, it } from "vitest";
import { attemptRows } from "../../src/archive/archive.js";
import { serializeError } from "../../src/errors/serialize.js";
import { createAttemptLog, type AttemptEntry } from "../../src/runtime/core/attempt-log.js";
import { reduceRunEvents } from "../../src/runtime/core/run-record.js";
import { tokenHashOf } from "../../src/runtime/core/run-state.js";
import type { RunEvent, RunUpdate } from "../../src/transport/messages.js";
import { attemptViewOf, createRunViewFold, taskKey } from "../../src/ui/run-view.js";

const runId = "run_1";
const ref = { state: "s", visit: 1, task: "a" };
const d = (attempt: number): string => `${runId}/s/1/a/${attempt}`;
const token = (attempt: number): string => `token-of-attempt-${attempt}`;
const flaky = serializeError(new Error("flaky"));
let seq = 100;
const dispatched = (attempt: number, at: number): RunEvent => ({ runId, at, type: "task.dispatched", ...ref, attempt, dispatchId: d(attempt), executor: "t/a", deadline: null, tokenHash: tokenHashOf(token(attempt)), judged: false });
const succeeded = (attempt: number, at: number, workerId: string, output: unknown, tok = token(attempt)): RunEvent => ({ runId, at, type: "attempt.succeeded", ...ref, attempt, dispatchId: d(attempt), token: tok, workerId, output, durationMs: 3, seq: ++seq });
const failed = (attempt: number, at: number, workerId: string): RunEvent => ({ runId, at, type: "attempt.failed", ...ref, attempt, dispatchId: d(attempt), token: token(attempt), workerId, error: flaky, durationMs: 2, seq: ++seq });

const history: RunEvent[] = [
  { runId, at: 1, type: "run.started", workflow: "w", version: "1", planHash: "h", input: {}, options: { schedule: "phases", onFailure: "fail-fast" } },
  { runId, at: 1, type: "run.claimed", owner: "c1~00", epoch: 1 },
  { runId, at: 2, type: "state.entered", state: "s", visit: 1, input: {} },
  dispatched(1, 3),
  failed(1, 4, "w1"),
  { runId, at: 5, type: "task.retrying", ...ref, attempt: 1, nextAttempt: 2, dueAt: 10, error: flaky },
  dispatched(2, 10),
  // the coordinator's timeout settles attempt 2 without a report ...
  { runId, at: 20, type: "task.retrying", ...ref, attempt: 2, nextAttempt: 3, dueAt: 30, error: serializeError(new Error("timed out")) },
  // ... so its late report does not count
  succeeded(2, 21, "w2", { late: true }),
  dispatched(3, 30),
  // a report with a token nobody dispatched does not count
  succeeded(3, 31, "mallory", { forged: true }, "not-the-token-of-attempt-3"),
  succeeded(3, 32, "w3", { ok: true }),
  // a second report of the same attempt (delivered twice) is counted, not taken
  succeeded(3, 33, "w4", { dup: true }),
  { runId, at: 34, type: "state.exited", state: "s", visit: 1, output: { ok: true }, next: null },
  { runId, at: 35, type: "run.succeeded", output: { ok: true } },
];

function logOf(updates: readonly RunUpdate[]): AttemptEntry[] {
  const log = createAttemptLog();
  for (const u of updates) log.apply(u);
  return [...log.all()];
}

describe("attempt log - the one attempts fold", () => {
  it("attempt log - lists every attempt with the report the record's fold counts", () => {
    const entries = logOf(history);
    expect(entries.map((a) => [a.attempt, a.status, a.report?.outcome ?? "none", a.reports])).toEqual([
      [1, "failed", "failed", 1],
      [2, "failed", "none", 1],
      [3, "succeeded", "succeeded", 3],
    ]);
    expect(entries[1]!.error?.message).toBe("timed out");
    expect(entries[2]).toMatchObject({ workerId: "w3", output: { ok: true }, report: { workerId: "w3", at: 32 } });
    // The record's fold took the same report.
    expect(reduceRunEvents(history).tasks[0]).toMatchObject({ workerId: "w3", output: { ok: true }, attempts: 3 });
  });

  it("attempt log - the web view's task panel and the archive's attempts table agree with it", () => {
    const entries = logOf(history);
    const view = createRunViewFold(runId);
    for (const e of history) view.apply(e);
    expect(view.attemptsOf(taskKey(ref))).toEqual(entries.map(attemptViewOf));
    expect(view.takePatch()!.tasks[taskKey(ref)]!.attempts).toEqual(entries.map(attemptViewOf));
    const rows = attemptRows(history);
    expect(rows.map((r) => [r.dispatchId, r.attempt, r.outcome, r.workerId, r.reportedAt, r.reports])).toEqual(
      entries.map((a) => [a.dispatchId, a.attempt, a.report?.outcome ?? "none", a.report?.workerId, a.report?.at, a.reports]),
    );
    expect(rows[2]!.output).toEqual({ ok: true });
    expect(rows[0]!.error).toEqual(flaky);
  });

  it("attempt log - live signals show an open attempt running; a retried run starts a new round", () => {
    const live: RunUpdate = { v: 3, type: "attempt.progress", runId, at: 11, ...ref, attempt: 2, dispatchId: d(2), workerId: "w2", done: 1, total: 4 };
    const entries = logOf([...history.slice(0, 7), live]);
    expect(entries[1]).toMatchObject({ status: "running", startedAt: 11, workerId: "w2", progress: { done: 1, total: 4 } });
    const retried: RunEvent = { runId, at: 40, type: "run.retried", state: "s", visit: 1, tasks: ["a"], reason: "again" };
    const again = logOf([...history, retried, dispatched(4, 41)]);
    expect(again.map((a) => a.round)).toEqual([0, 0, 0, 1]);
  });
});
