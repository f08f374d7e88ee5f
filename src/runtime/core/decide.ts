/**
 * The decider: every scheduling rule of a run, as one pure function of the run state,
 * a trigger, the time and a source of randomness. It does no I/O and reads no clock;
 * the coordinator shell (coordinator.ts) stores the events it returns and runs its
 * effects. Each event is folded into the state with `evolve` as it is decided, so the
 * state after `decide` is the state a reader of the stored history will fold.
 *
 * Triggers: start, report (a report was just folded), timer (a timeout, a retry
 * coming due, the watchdog), cancel, retry (a partial re-run), resume (the history
 * was folded by a new holder: take it from there), undeliverable (a task message that
 * cannot be sent), fail (the coordinator cannot drive the run), upgrade (move onto
 * another version's plan: upgrade.ts). Resume and live share one path:
 * `resume` judges every report still waiting for a verdict, re-arms every timer and
 * dispatches whatever is ready, which is what the live path would have done next.
 *
 * Rules (docs/architecture.md "The run core"): phases (n+1 once n settled) or eager (a task once its parents
 * succeeded); data flow; input/output schemas; retries with jittered backoff;
 * per-attempt timeouts; a watchdog re-dispatching attempts nothing was heard of;
 * fail-fast (cancel in-flight work, fail the run) or continue (skip dependents);
 * guards, routes and visit bounds.
 *
 * This file is the entry: what a trigger asks of the decision under way. The rules live
 * by idea beside it: decision.ts (states, phases, tasks, attempts, resume),
 * decide-timers.ts (timers, lost attempts), map-decide.ts (map nodes), run-waits.ts
 * (signal and sleep nodes), children.ts (child runs); decide-api.ts names the types.
 */
import { DEFAULT_PRIORITY } from "../../plan/schema.js";
import { chooseRetry } from "./run-retry.js";
import { seedOfRunId } from "./seed.js";
import { isFinished, type RunState } from "./run-state.js";
import { matchSignals } from "./run-waits.js";
import { matchChildren } from "./children.js";
import { DEFAULT_DECIDE_SETTINGS, type DecideRandom, type DecideSettings, type Decided, type Trigger } from "./decide-api.js";
import { attemptStarted, lostAttempt, timerFired } from "./decide-timers.js";
import { Decision } from "./decision.js";
import { carryOf, upgradeIssues } from "./upgrade.js";

export { DEFAULT_DECIDE_SETTINGS, type DecideRandom, type DecideSettings, type Decided, type Effect, type Trigger } from "./decide-api.js";

/**
 * Decide what follows `trigger` for the run in `state` (which is advanced in place by
 * the events decided, through `evolve`).
 * @example
 * const { events, effects } = decide(state, { type: "report", dispatchId }, clock.now(), random);
 */
export function decide(state: RunState, trigger: Trigger, now: number, random: DecideRandom, settings: DecideSettings = DEFAULT_DECIDE_SETTINGS): Decided {
  const d = new Decision(state, now, random, settings);
  switch (trigger.type) {
    case "start": {
      const plan = d.model().plan;
      const priority = trigger.options.priority ?? plan.priority ?? DEFAULT_PRIORITY;
      const options = { schedule: trigger.options.schedule, onFailure: trigger.options.onFailure, ...(priority !== DEFAULT_PRIORITY ? { priority } : {}) };
      const trace = trigger.traceparent === undefined ? {} : { traceparent: trigger.traceparent };
      const parent = trigger.parent === undefined ? {} : { parent: trigger.parent };
      d.emit({ type: "run.started", workflow: plan.workflow, version: plan.version, planHash: plan.planHash, input: trigger.input, options, seed: trigger.options.seed ?? seedOfRunId(state.runId), ...trace, ...parent });
      d.emit({ type: "run.claimed", owner: trigger.owner, epoch: trigger.epoch });
      d.enter(plan.initialState, trigger.input);
      break;
    }
    case "resume":
      if (!isFinished(state)) {
        d.emit({ type: "run.claimed", owner: trigger.owner, epoch: trigger.epoch });
        d.resume();
      }
      break;
    case "report":
      if (state.verdicts.has(trigger.dispatchId)) d.judge(trigger.dispatchId);
      // Accepted and settled: its timers are of no use. (A refused report, e.g. a forged token, disarms nothing.)
      else if (!state.attempts.has(trigger.dispatchId)) d.disarmAttempt(trigger.dispatchId);
      d.pump();
      break;
    case "timer":
      timerFired(d, trigger.key, trigger.lastHeardAt);
      d.pump();
      break;
    case "started":
      attemptStarted(d, trigger.dispatchId, trigger.startedAt);
      break;
    case "signal":
      matchSignals(d);
      d.pump();
      break;
    case "child":
      matchChildren(d);
      d.pump();
      break;
    case "undeliverable": {
      const a = state.attempts.get(trigger.dispatchId);
      const v = state.visit;
      const vt = a && v && v.state === a.task.state && v.visit === a.task.visit ? v.tasks.get(a.task.task) : undefined;
      if (v && vt && !state.verdicts.has(trigger.dispatchId)) {
        d.disarmAttempt(trigger.dispatchId);
        d.failTaskOf(v, vt, trigger.error, a!.attempt);
        d.pump();
      }
      break;
    }
    case "fail":
      if (!isFinished(state)) d.emit({ type: "run.failed", error: trigger.error });
      break;
    case "lost":
      lostAttempt(d, trigger.dispatchId, trigger.reason);
      d.pump();
      break;
    case "cancel":
      if (!isFinished(state)) {
        if (state.visit) d.stopInFlight(state.visit, trigger.reason);
        d.emit({ type: "run.cancelled", reason: trigger.reason });
      }
      break;
    case "resolved":
      if (!isFinished(state)) d.resolved();
      break;
    case "upgrade": {
      const to = state.models?.(trigger.planHash);
      const r = state.record;
      if (isFinished(state) || !to?.defs || to.plan.planHash === r.planHash || upgradeIssues(r, to.plan, state.model?.plan).length > 0) break;
      const carry = carryOf(state.visit);
      d.emit({ type: "run.upgraded", from: { version: r.version, planHash: r.planHash }, version: to.plan.version, planHash: to.plan.planHash, ...(carry.length > 0 ? { carry } : {}) });
      d.upgraded();
      break;
    }
    case "retry": {
      const choice = chooseRetry(d.model().plan, state, trigger.from, trigger.reason);
      d.emit({ type: "run.claimed", owner: trigger.owner, epoch: trigger.epoch });
      d.emit({ type: "run.retried", ...choice });
      d.pump(true);
      break;
    }
  }
  return { events: d.events, stamped: d.stamped, effects: d.effects };
}
