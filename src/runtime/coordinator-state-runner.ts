/**
 * Runs the tasks of one visit of one state: dispatches attempts, applies the retry
 * policy and per-attempt timeouts, reacts to worker reports and resolves with the
 * state's output (or rejects with the first task failure).
 *
 * - `schedule: "phases"`: phase n+1 is dispatched once every task of phase n settled.
 *   `schedule: "eager"`: a task is dispatched as soon as all its parents succeeded.
 * - A task's declared input schema is checked before its first dispatch, its output
 *   schema on success; either violation fails the task without retry.
 * - Timeout: the coordinator's timer fires, it sends control `cancel.attempt` (the
 *   worker aborts ctx.signal) and counts a retryable TaskTimeoutError. Any later
 *   report for that attempt is ignored, as are duplicates and reports for unknown
 *   dispatch ids.
 * - onFailure "fail-fast": the first task failure cancels every in-flight attempt and
 *   pending retry (task.cancelled + control cancel.run) and rejects. Tasks never
 *   dispatched get no event. "continue": every not-yet-run descendant of the failed
 *   task is skipped, independent tasks carry on, and the state rejects once all settled.
 *
 * Bookkeeping is O(1) per report (dispatch id -> task map, counters), so a phase of
 * 10,000 tasks costs O(10,000) however the reports interleave.
 *
 * A visit picked up from its history (crash, takeover, partial re-run) starts with
 * its tasks as the history left them (coordinator-state-seed.ts) and carries on from
 * there (coordinator-state-restore.ts).
 */
import { OutputValidationError, StateOutputValidationError, TaskFailedError, TaskInputValidationError, TaskTimeoutError } from "../errors/base.js";
import { deserializeError, serializeError, type SerializedError } from "../errors/serialize.js";
import type { PlanState } from "../plan/schema.js";
import { WIRE_VERSION, type AttemptReport } from "../transport/messages.js";
import { checkSchema, taskMessageOf } from "./coordinator-dispatch.js";
import { layoutOf, stateOutputOf, taskInputOf, type StateLayout } from "./coordinator-inputs.js";
import { decideAfterFailure } from "./coordinator-policy.js";
import { toSchemaIssues } from "./coordinator-transitions.js";
import type { RunScope } from "./coordinator-scope.js";
import { isOpen, seedTasks, type TaskRun } from "./coordinator-state-seed.js";
import type { StateRestore } from "./run-recovery.js";

export interface StateResult {
  output: unknown;
  /** Every task's output by name (the router's among them). */
  outputs: ReadonlyMap<string, unknown>;
}

export interface StateExecution {
  /** Resolves with the state's output; rejects with the failure. Never settles after `cancel`. */
  readonly done: Promise<StateResult>;
  /** A worker report for this run; reports of other attempts are ignored. */
  onReport(report: AttemptReport): void;
  /** Stop: clear timers, record task.cancelled for in-flight work, send control cancel.run. */
  cancel(reason: string): void;
}

/**
 * Start running `state` (visit `visit`) with `input`.
 * @example
 * const exec = runState(scope, planState, 1, { day: "2024-01-01" });
 * const { output } = await exec.done;
 */
export function runState(scope: RunScope, state: PlanState, visit: number, input: unknown): StateExecution {
  const run = new StateRun(scope, layoutOf(state), visit, input, undefined);
  run.start();
  return run;
}

/** One visit of one state (exported for coordinator-state-restore.ts, which picks a visit up again). */
export class StateRun implements StateExecution {
  readonly done: Promise<StateResult>;
  protected resolve!: (r: StateResult) => void;
  protected reject!: (e: unknown) => void;
  protected readonly tasks: Map<string, TaskRun>;
  private readonly byDispatch = new Map<string, TaskRun>();
  protected readonly outputs: Map<string, unknown>;
  protected readonly failures: { task: TaskRun; error: SerializedError }[];
  private remaining: number;
  protected phase = -1;
  protected phaseRemaining = 0;
  protected finished = false;
  protected pumping = false;

  constructor(
    protected readonly scope: RunScope,
    protected readonly layout: StateLayout,
    protected readonly visit: number,
    protected readonly input: unknown,
    restore: StateRestore | undefined,
  ) {
    this.done = new Promise<StateResult>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    const seeded = seedTasks(layout, restore);
    this.tasks = seeded.tasks;
    this.outputs = seeded.outputs;
    this.failures = seeded.failures;
    this.remaining = [...this.tasks.values()].filter(isOpen).length;
    for (const t of this.tasks.values()) if (t.dispatchId !== undefined && t.status === "dispatched") this.byDispatch.set(t.dispatchId, t);
  }

  /** A fresh visit: dispatch the first phase (or every root, eager). */
  start(): void {
    if (this.scope.options.schedule === "eager") {
      for (const t of this.tasks.values()) {
        if (this.finished) break;
        if (t.waitingFor === 0) this.startTask(t);
      }
    }
    this.pump();
  }

  protected get stateName(): string {
    return this.layout.state.name;
  }

  private ref(t: TaskRun): { state: string; visit: number; task: string } {
    return { state: this.stateName, visit: this.visit, task: t.layout.name };
  }

  /** Advance phases and finish when everything settled. Not re-entrant: nested calls return at once. */
  protected pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.finished) {
        if (this.remaining === 0) {
          this.finish();
          break;
        }
        if (this.scope.options.schedule === "phases" && this.phaseRemaining === 0 && this.phase < this.layout.state.phases.length - 1) {
          this.startPhase(++this.phase);
          continue;
        }
        break;
      }
    } finally {
      this.pumping = false;
    }
  }

  private startPhase(index: number): void {
    const names = this.layout.state.phases[index] ?? [];
    const runs = names.map((n) => this.tasks.get(n)).filter((t): t is TaskRun => t !== undefined && isOpen(t));
    this.phaseRemaining = runs.length;
    for (const t of runs) {
      if (this.finished) return;
      if (t.status === "waiting") this.startTask(t);
    }
  }

  protected startTask(t: TaskRun): void {
    const { input, parents } = taskInputOf(t.layout, this.input, this.outputs);
    const checked = checkSchema(this.scope.defs.taskInput(this.stateName, t.layout.name), input, (issues) => new TaskInputValidationError(t.layout.plan.id, issues));
    if (!checked.ok) {
      this.failTask(t, checked.error);
      return;
    }
    t.input = checked.value;
    t.parents = parents;
    this.sendAttempt(t, t.firstAttempt);
  }

  private sendAttempt(t: TaskRun, attempt: number): void {
    const { scope } = this;
    const plan = t.layout.plan;
    const message = taskMessageOf(scope, { state: this.stateName, visit: this.visit, task: plan, attempt, input: t.input, parents: t.parents, now: scope.clock.now() });
    const { dispatchId, deadline } = message;
    t.attempt = attempt;
    t.status = "dispatched";
    t.deadline = deadline;
    t.dispatchId = dispatchId;
    this.byDispatch.set(dispatchId, t);
    scope.emit({ type: "task.dispatched", ...this.ref(t), attempt, dispatchId, executor: plan.executor, deadline });
    scope.dispatch(message);
    if (plan.timeoutMs !== null) {
      const ms = plan.timeoutMs;
      t.timer = { handle: scope.clock.setTimeout(() => this.onTimeout(t, dispatchId, ms), ms) };
    }
  }

  onReport(report: AttemptReport): void {
    this.judge(report);
    this.pump();
  }

  protected judge(report: AttemptReport): void {
    if (report.type !== "attempt.succeeded" && report.type !== "attempt.failed") return;
    const t = this.byDispatch.get(report.dispatchId);
    if (this.finished || !t || t.dispatchId !== report.dispatchId || t.status !== "dispatched") {
      this.scope.log.debug({ dispatchId: report.dispatchId, type: report.type }, "ignoring a report for an attempt that is already settled");
      return;
    }
    this.clearTimer(t);
    if (report.type === "attempt.failed") {
      this.attemptFailed(t, report.error);
    } else {
      this.attemptSucceeded(t, report.output);
    }
  }

  protected onTimeout(t: TaskRun, dispatchId: string, ms: number): void {
    t.timer = undefined;
    if (this.finished || t.dispatchId !== dispatchId || t.status !== "dispatched") return;
    const error = new TaskTimeoutError(t.layout.plan.id, ms);
    this.scope.log.warn({ dispatchId, timeoutMs: ms }, error.message);
    this.scope.control({ v: WIRE_VERSION, type: "cancel.attempt", runId: this.scope.runId, dispatchId, reason: `timed out after ${ms} ms` });
    this.attemptFailed(t, serializeError(error));
    this.pump();
  }

  private attemptSucceeded(t: TaskRun, output: unknown): void {
    const checked = checkSchema(this.scope.defs.taskOutput(this.stateName, t.layout.name), output, (issues) => new OutputValidationError(t.layout.plan.id, issues));
    if (!checked.ok) {
      this.failTask(t, checked.error);
      return;
    }
    const value = checked.value;
    t.status = "succeeded";
    this.outputs.set(t.layout.name, value);
    this.scope.emit({ type: "task.succeeded", ...this.ref(t), attempt: t.attempt, dispatchId: t.dispatchId ?? "", output: value });
    this.settled();
    if (this.scope.options.schedule === "eager") {
      for (const c of t.layout.children) {
        const child = this.tasks.get(c);
        if (!child || this.finished) continue;
        child.waitingFor -= 1;
        if (child.waitingFor === 0 && child.status === "waiting") this.startTask(child);
      }
    }
  }

  private attemptFailed(t: TaskRun, error: SerializedError): void {
    // The policy counts the attempts of this try: a partial re-run starts a task's count over.
    const verdict = decideAfterFailure(t.layout.plan, t.attempt - t.firstAttempt + 1, error, this.scope.random);
    if (verdict.kind === "fail") {
      this.failTask(t, error);
      return;
    }
    const dueAt = this.scope.clock.now() + verdict.delayMs;
    const nextAttempt = t.attempt + 1;
    t.status = "retrying";
    this.scope.emit({ type: "task.retrying", ...this.ref(t), attempt: t.attempt, nextAttempt, dueAt, error });
    this.armRetry(t, nextAttempt, verdict.delayMs);
  }

  protected armRetry(t: TaskRun, nextAttempt: number, delayMs: number): void {
    t.timer = {
      handle: this.scope.clock.setTimeout(() => {
        t.timer = undefined;
        if (this.finished || t.status !== "retrying") return;
        this.sendAttempt(t, nextAttempt);
      }, delayMs),
    };
  }

  private failTask(t: TaskRun, error: SerializedError): void {
    t.status = "failed";
    this.failures.push({ task: t, error });
    this.scope.emit({ type: "task.failed", ...this.ref(t), attempt: t.attempt, error });
    if (this.scope.options.onFailure === "fail-fast") {
      this.stop(`task "${t.layout.plan.id}" failed (fail-fast)`);
      this.reject(this.failureError());
      return;
    }
    this.settled();
    this.skipDescendants(t);
  }

  /** onFailure "continue": every task downstream of `failed` that has not run is skipped. */
  protected skipDescendants(failed: TaskRun): void {
    const stack = [...failed.layout.children];
    const reason = `upstream task "${failed.layout.plan.id}" failed`;
    while (stack.length > 0) {
      const t = this.tasks.get(stack.pop()!);
      if (!t || t.status !== "waiting") continue;
      t.status = "skipped";
      this.scope.emit({ type: "task.skipped", ...this.ref(t), reason });
      this.remaining -= 1;
      stack.push(...t.layout.children);
    }
  }

  private settled(): void {
    this.remaining -= 1;
    this.phaseRemaining -= 1;
  }

  private finish(): void {
    this.finished = true;
    if (this.failures.length > 0) {
      this.reject(this.failureError());
      return;
    }
    const output = stateOutputOf(this.layout, this.input, this.outputs);
    const schema = this.scope.defs.stateOutput(this.stateName);
    const parsed = schema?.safeParse(output);
    if (parsed && !parsed.success) {
      this.reject(new StateOutputValidationError(this.stateName, toSchemaIssues(parsed.error.issues)));
      return;
    }
    this.resolve({ output: parsed ? parsed.data : output, outputs: this.outputs });
  }

  protected failureError(): TaskFailedError {
    const [first, ...rest] = this.failures;
    if (!first) throw new Error("phaseflow bug: failureError() without a failure");
    return new TaskFailedError(first.task.layout.plan.id, first.task.attempt, first.error, {
      cause: deserializeError(first.error),
      others: rest.map((f) => f.task.layout.plan.id),
    });
  }

  cancel(reason: string): void {
    this.stop(reason);
  }

  /** Settle everything in flight as cancelled and tell the workers; nothing runs after this. */
  protected stop(reason: string): void {
    if (this.finished) return;
    this.finished = true;
    for (const t of this.tasks.values()) {
      if (t.status !== "dispatched" && t.status !== "retrying") continue;
      this.clearTimer(t);
      t.status = "cancelled";
      this.scope.emit({ type: "task.cancelled", ...this.ref(t), reason });
    }
    const { round } = this.scope;
    this.scope.control({ v: WIRE_VERSION, type: "cancel.run", runId: this.scope.runId, reason, ...(round > 0 ? { round } : {}) });
  }

  private clearTimer(t: TaskRun): void {
    if (t.timer) this.scope.clock.clearTimeout(t.timer.handle);
    t.timer = undefined;
  }
}
