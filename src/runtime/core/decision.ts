/**
 * The decision under way (decide.ts's `decide` makes one per call): every event it emits
 * is folded into the run state with `evolve` at once, so each rule sees the state the
 * events so far made. Here: entering and finishing state visits, the phases and eager
 * scheduling (`pump`), starting a task's attempt, judging reports, retries and failures,
 * and picking a run up on resume.
 */
import { MaxVisitsExceededError, OutputValidationError, StateOutputValidationError, TaskFailedError, TaskInputValidationError } from "../../errors/base.js";
import { deserializeError, serializeError, type SerializedError } from "../../errors/serialize.js";
import { WIRE_VERSION, dispatchIdOf, type DecisionEvent, type DecisionRunEvent } from "../../transport/messages.js";
import type { ResolvedRunOptions } from "../../support/run-options.js";
import { checkOpened, checkSchema, type Checked } from "./schema-check.js";
import { rebuildsFromParents, stateOutputOf, taskInputOf } from "./dataflow.js";
import { decideAfterFailure } from "./retry-policy.js";
import { decideNext, type Definitions } from "./definition.js";
import { evolve, isFinished, tokenHashOf, type RunState, type Visit, type VisitTask } from "./run-state.js";
import type { RunModel } from "./run-model.js";
import type { DecideRandom, DecideSettings, Effect } from "./decide-api.js";
import { armAttempt, disarmAttempt, rearm, retryKey, timerFired, type TimerHost } from "./decide-timers.js";
import { fillMaps, instanceFailed, startMap, type MapHost } from "./map-decide.js";
import { MATCH_SIGNALS, matchSignals, startWait, waitKey } from "./run-waits.js";
import { cancelChildOf, ENSURE_CHILDREN, ensureChildren, matchChildren, type ChildHost } from "./children.js";
import { timersAtDispatch } from "./attempt-timers.js";
import { taskMessageOf } from "./task-message.js";
import { limitsOf } from "./limit-keys.js";
import { PayloadsNeeded, viewValue } from "./payload-view.js";

/**
 * One call of `decide`: the state it advances, the events and effects it gathers, and the
 * rules of states, phases, tasks and their attempts. Timer rules (decide-timers.ts), map
 * nodes (map-decide.ts), waits (run-waits.ts) and child nodes (children.ts) are applied
 * through the hosts it implements.
 */
export class Decision implements TimerHost, MapHost, ChildHost {
  readonly events: DecisionEvent[] = [];
  readonly stamped: DecisionRunEvent[] = [];
  readonly effects: Effect[] = [];
  constructor(
    readonly st: RunState,
    readonly now: number,
    readonly random: DecideRandom,
    readonly settings: DecideSettings,
  ) {}

  emit(e: DecisionEvent): void {
    this.events.push(e);
    const stamped = { ...e, runId: this.st.runId, at: this.now };
    this.stamped.push(stamped);
    evolve(this.st, stamped);
  }

  get options(): Pick<ResolvedRunOptions, "schedule" | "onFailure"> {
    return this.st.record.options ?? { schedule: "phases", onFailure: "fail-fast" };
  }

  model(): RunModel & { defs: Definitions } {
    const m = this.st.model;
    if (!m?.defs) throw new Error(`phaseflow bug: run "${this.st.runId}" is decided without its workflow definitions`);
    return m as RunModel & { defs: Definitions };
  }

  // --- states

  enter(state: string, input: unknown): void {
    const { index, machine } = this.model();
    const snapshot = this.st.machine!;
    const visits = (snapshot.context.visits[state] ?? 0) + 1;
    // Visits are numbered for good; what counts against maxVisits winds back with a re-run from an earlier state.
    const entries = (this.st.entries[state] ?? 0) + 1;
    const max = index.state(state).maxVisits;
    if (entries > max || !snapshot.can({ type: "enter", state })) {
      const error = entries > max ? new MaxVisitsExceededError(state, max) : new Error(`phaseflow bug: no transition into state "${state}" from where the run stands`);
      this.emit({ type: "run.failed", error: serializeError(error) });
      return;
    }
    void machine;
    this.emit({ type: "state.entered", state, visit: visits, input });
    this.pump();
  }

  /**
   * Dispatch what became ready and finish the visit when everything settled: O(1) per
   * call plus the tasks it starts. With `scan` (resume, re-run) it also starts every
   * pending task the current phase allows, which a live run would have started already.
   */
  pump(scan = false): void {
    // The phase this call got to: the visit's (evolve's) lags it when a phase it started had nothing left to start.
    let phase = -1;
    for (;;) {
      const v = this.st.visit;
      if (!v || isFinished(this.st)) return;
      if (v.open === 0) {
        this.finishVisit(v);
        return;
      }
      fillMaps(this, v);
      if (this.st.visit !== v || isFinished(this.st)) return;
      if (this.options.schedule === "eager") {
        // evolve queues a task once its last parent succeeded, and drops it once it is started
        // (a Set's iteration goes on to the ones queued meanwhile): start them in that order.
        for (const name of v.ready) {
          if (this.st.visit !== v || isFinished(this.st)) return;
          this.startTask(v, v.tasks.get(name)!);
        }
        if (this.st.visit !== v || v.open > 0) return;
        continue;
      }
      const phases = v.layout.state.phases;
      phase = Math.max(phase, v.phase);
      if (phase < 0) {
        phase = 0;
        this.startPhase(v, 0);
      } else if (scan) {
        for (let p = 0; p <= phase && p < phases.length; p++) this.startPhase(v, p);
        scan = false;
      }
      if (this.st.visit !== v || isFinished(this.st)) return;
      if (v.open === 0) continue;
      if ((v.phaseOpen[phase] ?? 0) > 0 || phase >= phases.length - 1) return;
      phase++;
      this.startPhase(v, phase);
    }
  }

  private startPhase(v: Visit, p: number): void {
    for (const name of v.layout.state.phases[p] ?? []) {
      const vt = v.tasks.get(name)!;
      if (vt.status === "pending" && this.st.visit === v && !isFinished(this.st)) this.startTask(v, vt);
    }
  }

  private finishVisit(v: Visit): void {
    const { defs, index } = this.model();
    if (v.failures.length > 0) {
      this.failRun(v);
      return;
    }
    const raw = stateOutputOf(v.layout, v.input, v.outputs);
    let next: string | null;
    let output: unknown;
    try {
      // A state output over inlineBytes is a payload reference: checked on its value, fetched first (payload-view.ts).
      const checked = checkOpened(defs.stateOutput(v.state), raw, this.st.payloads, (issues) => new StateOutputValidationError(v.state, issues));
      if (!checked.ok) {
        this.emit({ type: "run.failed", error: checked.error });
        return;
      }
      output = checked.value;
    } catch (err) {
      if (err instanceof PayloadsNeeded) return this.need(err);
      throw err;
    }
    try {
      next = decideNext(index.state(v.state), defs, output, v.outputs, (value) => this.view(value));
    } catch (err) {
      // A guard or the route reads a payload not fetched yet: the visit finishes once it is (trigger "resolved").
      if (err instanceof PayloadsNeeded) return this.need(err);
      this.emit({ type: "run.failed", error: serializeError(err) });
      return;
    }
    this.emit({ type: "state.exited", state: v.state, visit: v.visit, output, next });
    if (next === null) this.emit({ type: "run.succeeded", output });
    else this.enter(next, output);
  }

  private failRun(v: Visit): void {
    const [first, ...rest] = v.failures;
    const t = v.tasks.get(first!)!;
    const error = t.record?.error ?? serializeError(new Error("unknown failure"));
    const id = t.layout.plan.id;
    this.emit({ type: "run.failed", error: serializeError(new TaskFailedError(id, t.attempts, error, { cause: deserializeError(error), others: rest.map((n) => v.tasks.get(n)!.layout.plan.id) })) });
  }

  // --- payloads (payload-view.ts)

  /** `value` with its payload references looked up in the state's payload view. @throws PayloadsNeeded */
  view(value: unknown): unknown {
    return viewValue(value, this.st.payloads);
  }

  /** A rule stopped for payloads not fetched yet: ask the shell for them; it triggers `resolved` once they are here. */
  need(err: PayloadsNeeded): void {
    this.effects.push({ type: "resolve", refs: err.refs });
  }

  /** What waited for payloads decides again: retry timers that fired meanwhile, children to ask for again, then whatever is ready. */
  resolved(): void {
    const deferred = [...this.st.deferredTimers];
    this.st.deferredTimers.clear();
    for (const key of deferred) {
      if (isFinished(this.st)) return;
      if (key === ENSURE_CHILDREN) ensureChildren(this);
      else if (key === MATCH_SIGNALS) matchSignals(this);
      else timerFired(this, key, undefined);
    }
    this.pump(true);
  }

  // --- tasks

  ref(v: Visit, vt: VisitTask): { state: string; visit: number; task: string } {
    return { state: v.state, visit: v.visit, task: vt.instance?.name ?? vt.layout.name };
  }

  startTask(v: Visit, vt: VisitTask): void {
    if (vt.layout.plan.map) {
      startMap(this, v, vt);
      return;
    }
    const { defs } = this.model();
    const { input, parents } = taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps);
    const checked = checkSchema(defs.taskInput(v.state, vt.layout.name), input, (issues) => new TaskInputValidationError(vt.layout.plan.id, issues));
    if (!checked.ok) {
      this.failTask(v, vt, checked.error);
      return;
    }
    this.sendAttempt(v, vt, vt.attempts + 1, checked.value, parents);
  }

  // --- attempts (timers: decide-timers.ts; map nodes: map-decide.ts)

  checkInput(v: Visit, vt: VisitTask, input: unknown): Checked {
    const { defs } = this.model();
    const id = vt.instance ? `${vt.layout.plan.id}[${vt.instance.index}]` : vt.layout.plan.id;
    return checkSchema(defs.taskInput(v.state, vt.layout.name), input, (issues) => new TaskInputValidationError(id, issues));
  }

  sendAttempt(v: Visit, vt: VisitTask, attempt: number, input: unknown, parents: Record<string, unknown>): void {
    // Signal and sleep nodes wait here, in the decider, instead of on a worker (run-waits.ts).
    if (vt.layout.plan.wait) {
      startWait(this, v, vt, attempt, input);
      return;
    }
    const { plan, defs } = this.model();
    const task = vt.layout.plan;
    let keyInput = input;
    if (task.concurrency?.keyed === true || task.rateLimit?.keyed === true) {
      try {
        keyInput = this.view(input);
      } catch (err) {
        // A limit key reads a payload not fetched yet: the attempt starts once it is.
        if (err instanceof PayloadsNeeded) return this.need(err);
        throw err;
      }
    }
    const limits = limitsOf(task, v.state, defs, keyInput);
    if (!limits.ok) {
      this.failTask(v, vt, serializeError(limits.error));
      return;
    }
    const runId = this.st.runId;
    const name = vt.instance?.name ?? task.name;
    const dispatchId = dispatchIdOf(runId, v.state, v.visit, name, attempt);
    const startBy = task.queueTimeoutMs === undefined ? undefined : this.now + task.queueTimeoutMs;
    const token = this.random.token();
    const judged = defs.taskOutput(v.state, task.name) !== undefined;
    // Parents' outputs travel once: the worker rebuilds the merge unless a schema reshaped it.
    // Not for a map instance (its input is its item), nor after a map (the worker's merge does not know a map's output goes under its name).
    const viaParents = vt.instance === undefined && !vt.layout.parents.some((p) => v.layout.maps.has(p));
    const inputFrom = viaParents && rebuildsFromParents(vt.layout.parents, parents, input, defs.taskInput(v.state, task.name) !== undefined) ? vt.layout.parents : undefined;
    this.emit({ type: "task.dispatched", ...this.ref(v, vt), attempt, dispatchId, executor: task.executor, deadline: null, ...(startBy !== undefined ? { startBy } : {}), tokenHash: tokenHashOf(token), judged, ...(limits.limits.length > 0 ? { limits: limits.limits } : {}) });
    // The decider knows its own tokens (folded, never stored): its shell checks their reports without hashing.
    evolve(this.st, { type: "attempt.token", dispatchId, token });
    const message = taskMessageOf(this.st, plan, v, vt, { attempt, dispatchId, name, input, inputFrom, parents, token, startBy, now: this.now });
    this.effects.push(limits.limits.length > 0 ? { type: "dispatch", message, limits: limits.limits } : { type: "dispatch", message });
    armAttempt(this.effects, dispatchId, timersAtDispatch({ startBy }, this.now, this.settings));
  }

  /** Judge a report waiting for its verdict (folded already). */
  judge(dispatchId: string): void {
    const pending = this.st.verdicts.get(dispatchId);
    const v = this.st.visit;
    if (!pending || !v) return;
    const t = pending.attempt.task;
    const vt = v.state === t.state && v.visit === t.visit ? v.tasks.get(t.task) : undefined;
    if (!vt) return;
    disarmAttempt(this.effects, dispatchId);
    if (pending.kind === "failed") {
      this.attemptFailed(v, vt, pending.attempt.attempt, pending.error);
      return;
    }
    const { defs } = this.model();
    const checked = checkSchema(defs.taskOutput(v.state, vt.layout.name), pending.output, (issues) => new OutputValidationError(vt.layout.plan.id, issues));
    if (!checked.ok) this.failTask(v, vt, checked.error);
    else this.emit({ type: "task.succeeded", ...this.ref(v, vt), attempt: pending.attempt.attempt, dispatchId, output: checked.value });
  }

  attemptFailed(v: Visit, vt: VisitTask, attempt: number, error: SerializedError): void {
    const verdict = decideAfterFailure(vt.layout.plan, attempt - vt.firstAttempt + 1 - vt.lost, error, () => this.random.jitter());
    if (verdict.kind === "fail") {
      this.failTask(v, vt, error, attempt);
      return;
    }
    const dueAt = this.now + verdict.delayMs;
    this.emit({ type: "task.retrying", ...this.ref(v, vt), attempt, nextAttempt: attempt + 1, dueAt, error });
    this.effects.push({ type: "timer", key: retryKey(v.state, v.visit, this.ref(v, vt).task), at: dueAt });
  }

  failTaskOf(v: Visit, vt: VisitTask, error: SerializedError, attempt: number): void {
    this.failTask(v, vt, error, attempt);
  }

  disarmAttempt(dispatchId: string): void {
    disarmAttempt(this.effects, dispatchId);
  }

  failTask(v: Visit, vt: VisitTask, error: SerializedError, attempt = vt.attempts): void {
    this.emit({ type: "task.failed", ...this.ref(v, vt), attempt, error });
    if (vt.instance) {
      instanceFailed(this, v, vt);
      return;
    }
    if (this.options.onFailure === "fail-fast") {
      this.stopInFlight(v, `task "${vt.layout.plan.id}" failed (fail-fast)`);
      this.failRun(v);
      return;
    }
    this.skipDescendants(v, vt);
  }

  private skipDescendants(v: Visit, failed: VisitTask): void {
    const stack = [...failed.layout.children];
    const reason = `upstream task "${failed.layout.plan.id}" failed`;
    while (stack.length > 0) {
      const vt = v.tasks.get(stack.pop()!);
      if (!vt || vt.status !== "pending") continue;
      this.emit({ type: "task.skipped", ...this.ref(v, vt), reason });
      stack.push(...vt.layout.children);
    }
  }

  /** Settle every in-flight attempt and pending retry as cancelled and tell the workers. */
  stopInFlight(v: Visit, reason: string): void {
    for (const vt of v.tasks.values()) {
      if (vt.status !== "dispatched" && vt.status !== "running" && vt.status !== "retrying") continue;
      disarmAttempt(this.effects, vt.record?.dispatchId);
      if (vt.status === "retrying") this.effects.push({ type: "cancelTimer", key: retryKey(v.state, v.visit, this.ref(v, vt).task) });
      if (vt.record?.wait) this.effects.push({ type: "cancelTimer", key: waitKey(v.state, v.visit, vt.layout.name) });
      cancelChildOf(this, vt, reason);
      this.emit({ type: "task.cancelled", ...this.ref(v, vt), reason });
    }
    this.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.run", runId: this.st.runId, reason, round: this.st.round } });
  }

  // --- resume

  /** The run is on another plan now (upgrade.ts): its timers follow the new plan's settings, and what it has that is ready starts. */
  upgraded(): void {
    if (isFinished(this.st) || !this.st.visit) return;
    rearm(this);
    matchSignals(this);
    if (isFinished(this.st)) return;
    this.pump(true);
  }

  /** Where a folded history stands -> go on from there. */
  resume(): void {
    if (isFinished(this.st)) return;
    for (const id of [...this.st.verdicts.keys()]) {
      this.judge(id);
      if (isFinished(this.st)) return;
    }
    if (this.st.visit) {
      rearm(this);
      // Signals and child ends stored while no coordinator held the run; children still waited for are asked for again.
      matchSignals(this);
      if (isFinished(this.st)) return;
      matchChildren(this);
      if (isFinished(this.st)) return;
      ensureChildren(this);
      this.pump(true);
      return;
    }
    const states = this.st.record.states;
    const last = states[states.length - 1];
    if (!last) {
      this.enter(this.model().plan.initialState, this.st.record.input);
    } else if (last.status === "succeeded") {
      if (last.next === null || last.next === undefined) this.emit({ type: "run.succeeded", output: last.output });
      else this.enter(last.next, last.output);
    } else {
      this.emit({ type: "run.failed", error: serializeError(new Error(`state "${last.name}" visit ${last.visit} is open in the history but cannot be picked up`)) });
    }
  }
}
