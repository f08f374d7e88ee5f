// The pieces of `phaseflow run`'s display, without a terminal: the progress renderer
// (pure lines from a run record), the in-place terminal driver on a fake clock, the
// failure lines, and the event log lines.
import { describe, expect, it } from "vitest";
import { countStateTasks, progressBar, renderProgress } from "../../src/cli/progress-render.js";
import { createTerminalProgress } from "../../src/cli/progress-terminal.js";
import { describeEvent } from "../../src/cli/run-event-log.js";
import { describeRunFailure, formatRunResult } from "../../src/cli/run-summary.js";
import { reduceRunEvents } from "../../src/runtime/core/run-record.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { createFakeClock } from "../support/fake-clock.js";

const runId = "run_1";
const boom = { name: "Error", code: "BOOM", message: "disk full\nat line 2", retryable: true };
const started: RunEvent = { runId, at: 1000, type: "run.started", workflow: "etl", version: "1", planHash: "h", input: {}, options: { schedule: "phases", onFailure: "fail-fast" } };
const dispatched = (task: string, at: number, attempt = 1): RunEvent => ({ runId, at, type: "task.dispatched", state: "ingest", visit: 1, task, attempt, dispatchId: `d-${task}-${attempt}`, executor: `etl/${task}`, deadline: null, tokenHash: `h-${task}-${attempt}`, judged: true });

/** ingest (5 tasks declared): extract done, clean dispatched (running with progress, see `midRunLive`), stats waiting to retry. */
const midRun: RunEvent[] = [
  started,
  { runId, at: 1000, type: "state.entered", state: "ingest", visit: 1, input: {} },
  dispatched("extract", 1010),
  { runId, at: 1020, type: "task.succeeded", state: "ingest", visit: 1, task: "extract", attempt: 1, dispatchId: "d-extract-1", output: {} },
  dispatched("clean", 1030),
  dispatched("stats", 1030),
  { runId, at: 1200, type: "task.retrying", state: "ingest", visit: 1, task: "stats", attempt: 1, nextAttempt: 2, dueAt: 3200, error: boom },
];

/**
 * The mid-run record as a live view holds it: attempt.started and progress are live
 * signals (v2), applied to the folded record as the coordinator does (run-shell onLive).
 */
function midRunLive(): RunRecord {
  const record = reduceRunEvents(midRun);
  const clean = record.tasks.find((t) => t.task === "clean")!;
  Object.assign(clean, { status: "running", workerId: "w1", startedAt: 1040, progress: { done: 120, total: 200 } });
  return record;
}

describe("cli run progress - renderer", () => {
  it("cli run progress - shows the run, a bar and counts per state visit, and the tasks in flight", () => {
    const lines = renderProgress(midRunLive(), { now: 2200, totals: { ingest: 5, report: 1 } });
    expect(lines).toEqual([
      "etl@1  run_1  running  1.20s",
      "  > ingest  ███░░░░░░░░░░░░░  1/5 done, 0 failed, 2 running  1.20s",
      "      clean  running  attempt 1  120/200  1.16s",
      "      stats  retrying  attempt 1  next in 1.00s  last error [BOOM] disk full",
    ]);
  });

  it("cli run progress - a finished run shows each state's end, its next state and no tasks in flight", () => {
    const events: RunEvent[] = [
      ...midRun,
      { runId, at: 2300, type: "task.failed", state: "ingest", visit: 1, task: "stats", attempt: 2, error: boom },
      { runId, at: 2300, type: "task.cancelled", state: "ingest", visit: 1, task: "clean", reason: "fail-fast" },
      { runId, at: 2300, type: "run.failed", error: { name: "TaskFailedError", code: "TASK_FAILED", message: "task failed", retryable: false } },
    ];
    expect(renderProgress(reduceRunEvents(events), { now: 9999, totals: { ingest: 5 } })).toEqual([
      "etl@1  run_1  failed  1.30s",
      "  ✗ ingest  ██████████░░░░░░  1/5 done, 1 failed, 0 running, 1 cancelled  1.30s",
    ]);
  });

  it("cli run progress - numbers repeated visits of a state and keeps only the latest ones", () => {
    const events: RunEvent[] = [started];
    for (let visit = 1; visit <= 4; visit++) {
      const at = 1000 + visit * 100;
      events.push({ runId, at, type: "state.entered", state: "loop", visit, input: {} });
      events.push({ runId, at: at + 50, type: "state.exited", state: "loop", visit, output: {}, next: visit < 4 ? "loop" : "done" });
    }
    const lines = renderProgress(reduceRunEvents(events), { now: 2000, maxStates: 2 });
    expect(lines).toEqual([
      "etl@1  run_1  running  1.00s",
      "  … 2 earlier state visits",
      "  ✓ loop #3  ████████████████  0/0 done, 0 failed, 0 running  50ms  -> loop",
      "  ✓ loop #4  ████████████████  0/0 done, 0 failed, 0 running  50ms  -> done",
    ]);
  });

  it("cli run progress - a run not started yet says so, and long lines are cut to the width", () => {
    expect(renderProgress(reduceRunEvents([]), { now: 0 })).toEqual(["workflow    starting  -"]);
    const [, state] = renderProgress(reduceRunEvents(midRun), { now: 2200, width: 40 });
    expect(state).toBe("  > ingest  █████░░░░░░░░░░░  1/3 done…");
    expect(state).toHaveLength(39);
  });

  it("cli run progress - counts tasks by status and fills bars by fraction", () => {
    expect(countStateTasks(reduceRunEvents(midRun), "ingest", 1, 5)).toEqual({ total: 5, succeeded: 1, failed: 0, running: 2, skipped: 0, cancelled: 0 });
    expect(countStateTasks(reduceRunEvents(midRun), "ingest", 1)).toMatchObject({ total: 3 });
    expect(progressBar(0.5, 4)).toBe("██░░");
    expect(progressBar(2, 3)).toBe("███");
    expect(progressBar(Number.NaN, 2)).toBe("░░");
  });
});

describe("cli run progress - terminal driver", () => {
  const setup = () => {
    const clock = createFakeClock(0);
    let out = "";
    let frame = ["a", "b"];
    const display = createTerminalProgress({ out: { write: (s: string) => (out += s) }, frame: () => frame, clock });
    return { clock, display, take: () => { const s = out; out = ""; return s; }, setFrame: (f: string[]) => (frame = f) };
  };

  it("cli run progress - draws at once, then redraws in place at most once per interval", async () => {
    const { clock, display, take, setFrame } = setup();
    expect(take()).toBe("\u001b[?25l\r\u001b[2Ka\n\u001b[2Kb\n\u001b[J");
    setFrame(["c"]);
    display.update();
    expect(take()).toBe("");
    await clock.advance(100);
    expect(take()).toBe("\r\u001b[2A\u001b[2Kc\n\u001b[J");
    await clock.advance(50);
    display.update();
    expect(take()).toBe("");
    display.stop();
  });

  it("cli run progress - writes interjected text above the block and erases the block on stop", async () => {
    const { clock, display, take } = setup();
    take();
    const err: string[] = [];
    display.interject("warning\n", { write: (s: string) => err.push(s) });
    expect(err).toEqual(["warning\n"]);
    expect(take()).toBe("\r\u001b[2A\u001b[J\r\u001b[2Ka\n\u001b[2Kb\n\u001b[J");
    display.stop();
    expect(take()).toBe("\r\u001b[2A\u001b[J\u001b[?25h");
    await clock.advance(1000);
    display.update();
    expect(take()).toBe("");
    expect(clock.pending()).toBe(0);
  });
});

describe("cli run progress - summaries", () => {
  it("cli run progress - names each failed task with its attempts and its last error, every line of it", () => {
    const record = reduceRunEvents([
      ...midRun,
      { runId, at: 2300, type: "task.failed", state: "ingest", visit: 1, task: "stats", attempt: 2, error: boom },
      { runId, at: 2300, type: "run.failed", error: { name: "TaskFailedError", code: "TASK_FAILED", message: "task failed", retryable: false } },
    ]);
    expect(describeRunFailure(record)).toBe("phaseflow run: run run_1 failed: task ingest/stats failed after 2 attempts: [BOOM] disk full\n    at line 2\n");
  });

  it("cli run progress - an issue list in an error (STATE_OUTPUT_INVALID) keeps every field error", () => {
    const error = { name: "SchemaValidationError", code: "STATE_OUTPUT_INVALID", message: 'output of state "ingest" is invalid:\n  - loaded: expected number\n  - day: required', retryable: false };
    const record = reduceRunEvents([started, { runId, at: 1100, type: "run.failed", error }]);
    expect(describeRunFailure(record)).toBe('phaseflow run: run run_1 failed: [STATE_OUTPUT_INVALID] output of state "ingest" is invalid:\n      - loaded: expected number\n      - day: required\n');
  });

  it("cli run progress - falls back to the run's error or cancel reason, and says nothing for a success", () => {
    const failed = reduceRunEvents([started, { runId, at: 1100, type: "run.failed", error: { name: "NoTransitionError", code: "NO_TRANSITION", message: "no transition matched", retryable: false } }]);
    expect(describeRunFailure(failed)).toBe("phaseflow run: run run_1 failed: [NO_TRANSITION] no transition matched\n");
    const cancelled = reduceRunEvents([started, { runId, at: 1100, type: "run.cancelled", reason: "by hand" }]);
    expect(describeRunFailure(cancelled)).toBe("phaseflow run: run run_1 cancelled: by hand\n");
    const ok = reduceRunEvents([started, { runId, at: 1100, type: "run.succeeded", output: { n: 1 } }]);
    expect(describeRunFailure(ok)).toBe("");
    expect(formatRunResult(ok)).toMatch(/succeeded in 100ms\n\noutput:\n\{\n {2}"n": 1\n\}\n$/);
  });

  it("cli run progress - an event log line carries the event's identity and a readable message, without payloads", () => {
    expect(describeEvent(midRun[6]!)).toEqual({
      level: "warn",
      fields: { event: "task.retrying", runId, state: "ingest", visit: 1, task: "stats", attempt: 1, error: boom, nextAttempt: 2, dueAt: 3200 },
      msg: "task ingest/stats attempt 1 failed, retrying: [BOOM] disk full",
    });
    expect(describeEvent(midRun[3]!)).toEqual({ level: "info", fields: { event: "task.succeeded", runId, state: "ingest", visit: 1, task: "extract", attempt: 1 }, msg: "task ingest/extract succeeded" });
  });
});
