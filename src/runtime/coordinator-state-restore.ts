/**
 * A state visit picked up again from the run's history — after a coordinator crash,
 * on a takeover, or for a partial re-run (`run.retried`). Its tasks start as the
 * history left them (coordinator-state-seed.ts: succeeded ones keep their outputs and
 * are not dispatched again); `resume()` then carries the visit on, and from there it
 * runs like any other (coordinator-state-runner.ts).
 */
import type { PlanState } from "../plan/schema.js";
import { checkSchema, taskMessageOf } from "./coordinator-dispatch.js";
import { layoutOf, taskInputOf, type StateLayout } from "./coordinator-inputs.js";
import type { RunScope } from "./coordinator-scope.js";
import { openPhase, type TaskRun } from "./coordinator-state-seed.js";
import { StateRun, type StateExecution } from "./coordinator-state-runner.js";
import type { StateRestore } from "./run-recovery.js";

/** A visit rebuilt from its history, not yet going: `resume()` carries it on; `cancel()` ends it. */
export interface RestoredState extends StateExecution {
  resume(): void;
}

/**
 * Rebuild visit `visit` of `state` from its history (`restore`, see run-recovery.ts).
 * @example
 * const exec = restoreState(scope, planState, 2, stateInput, position.restore);
 * exec.resume(); // judges pending reports, re-sends in-flight attempts, dispatches the rest
 */
export function restoreState(scope: RunScope, state: PlanState, visit: number, input: unknown, restore: StateRestore): RestoredState {
  return new RestoredStateRun(scope, layoutOf(state), visit, input, restore);
}

class RestoredStateRun extends StateRun implements RestoredState {
  constructor(
    scope: RunScope,
    layout: StateLayout,
    visit: number,
    input: unknown,
    private readonly restore: StateRestore,
  ) {
    super(scope, layout, visit, input, restore);
  }

  /**
   * A restored visit carries on, in this order: a failure recorded under fail-fast
   * fails it (cancelling what is in flight); under "continue" the failed tasks'
   * descendants are skipped; reports that arrived unjudged are judged in arrival
   * order; attempts still in flight are sent again under their dispatch id (the
   * transport drops the copy while the original is queued) with their timeout
   * re-armed at the recorded deadline (timed out at once if it passed); retries wait
   * for their recorded due time; then the open phase's (or, eager, every ready) task
   * that was never dispatched is.
   */
  resume(): void {
    const restore = this.restore;
    this.pumping = true;
    try {
      if (this.scope.options.onFailure === "fail-fast" && this.failures.length > 0) {
        const first = this.failures[0]!.task;
        this.stop(`task "${first.layout.plan.id}" failed (fail-fast)`);
        this.reject(this.failureError());
        return;
      }
      for (const f of [...this.failures]) this.skipDescendants(f.task);
      if (this.scope.options.schedule === "phases") {
        const open = openPhase(this.layout, this.tasks);
        this.phase = open.phase;
        this.phaseRemaining = open.remaining;
      }
      for (const t of this.tasks.values()) if (t.status === "dispatched" || t.status === "retrying") this.restoreInput(t);
      const reported = new Set(restore.reports.map((r) => r.dispatchId));
      const inFlight = [...this.tasks.values()].filter((t) => t.status === "dispatched" && !reported.has(t.dispatchId ?? ""));
      const retrying = [...this.tasks.values()].filter((t) => t.status === "retrying");
      for (const report of restore.reports) if (!this.finished) this.judge(report);
      for (const t of inFlight) if (!this.finished && t.status === "dispatched") this.resend(t);
      for (const t of retrying) if (!this.finished) this.armRetry(t, t.nextAttempt, Math.max(0, t.dueAt - this.scope.clock.now()));
      for (const t of this.tasks.values()) {
        if (this.finished) return;
        const ready = this.scope.options.schedule === "eager" ? t.waitingFor === 0 : t.layout.plan.phase === this.phase;
        if (t.status === "waiting" && ready) this.startTask(t);
      }
    } finally {
      this.pumping = false;
    }
    this.pump();
  }

  /** A restored task's input, as it was computed for its first attempt (its parents' outputs are recorded). */
  private restoreInput(t: TaskRun): void {
    const { input, parents } = taskInputOf(t.layout, this.input, this.outputs);
    const checked = checkSchema(this.scope.defs.taskInput(this.stateName, t.layout.name), input, () => new Error("unused"));
    t.input = checked.ok ? checked.value : input;
    t.parents = parents;
  }

  /** Send an in-flight attempt again (same dispatch id) and re-arm its timeout from the recorded deadline. */
  private resend(t: TaskRun): void {
    const { scope } = this;
    const message = taskMessageOf(scope, { state: this.stateName, visit: this.visit, task: t.layout.plan, attempt: t.attempt, input: t.input, parents: t.parents, now: t.dispatchedAt });
    const dispatchId = t.dispatchId ?? message.dispatchId;
    scope.dispatch({ ...message, dispatchId, deadline: t.deadline });
    if (t.deadline === null || t.layout.plan.timeoutMs === null) return;
    const ms = t.layout.plan.timeoutMs;
    const left = t.deadline - scope.clock.now();
    if (left <= 0) {
      this.onTimeout(t, dispatchId, ms);
      return;
    }
    t.timer = { handle: scope.clock.setTimeout(() => this.onTimeout(t, dispatchId, ms), left) };
  }
}
