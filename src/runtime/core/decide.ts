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
 * cannot be sent), fail (the coordinator cannot drive the run). Resume and live share one path:
 * `resume` judges every report still waiting for a verdict, re-arms every timer and
 * dispatches whatever is ready, which is what the live path would have done next.
 *
 * Rules (docs/architecture.md "The run core"): phases (n+1 once n settled) or eager (a task once its parents
 * succeeded); data flow; input/output schemas; retries with jittered backoff;
 * per-attempt timeouts; a watchdog re-dispatching attempts nothing was heard of;
 * fail-fast (cancel in-flight work, fail the run) or continue (skip dependents);
 * guards, routes and visit bounds.
 */
import { AttemptLostError, PhaseflowError, MaxVisitsExceededError, QueueTimeoutError, OutputValidationError, StateOutputValidationError, TaskFailedError, TaskInputValidationError, TaskTimeoutError } from "../../errors/base.js";
import { deserializeError, serializeError, type SerializedError } from "../../errors/serialize.js";
import { WIRE_VERSION, dispatchIdOf, idempotencyKeyOf, type ControlMessage, type DecisionEvent, type DecisionRunEvent, type ParentRef, type TaskMessage } from "../../transport/messages.js";
import { checkSchema } from "./schema-check.js";
import { rebuildsFromParents, stateOutputOf, taskInputOf } from "./dataflow.js";
import { decideAfterFailure } from "./retry-policy.js";
import { decideNext } from "./definition.js";
import { toSchemaIssues } from "../../support/schema-issues.js";
import { chooseRetry, type RetryFrom } from "./run-retry.js";
import { MapFailedError } from "../../errors/map.js";
import { chunkItems, evaluateItems, toleratedOf } from "./map-decide.js";
import { instanceName, type MapProgress } from "./map-state.js";
import { seedOfRunId, taskSeed } from "./seed.js";
import { evolve, isFinished, taskKey, taskRecordOf, tokenHashOf, type RunState, type Visit, type VisitTask } from "./run-state.js";
import type { ResolvedRunOptions } from "../../support/run-options.js";
import { DEFAULT_PRIORITY } from "../../plan/schema.js";
import type { RunModel } from "./run-model.js";
import type { Definitions } from "./definition.js";
import { matchSignals, rearmWaits, startWait, waitKey, waitTimer, type WaitHost } from "./run-waits.js";
import { cancelChildOf, ensureChildren, matchChildren, type ChildEffect } from "./children.js";
import { carryOf, upgradeIssues } from "./upgrade.js";
import { learnStart, queueDue, timeoutDue, timersAtDispatch, timersAtResume, type AttemptTimer } from "./attempt-timers.js";

export type Trigger =
  /** `traceparent`: the run span's trace context (telemetry), recorded in run.started. */
  | { type: "start"; input: unknown; options: Pick<ResolvedRunOptions, "schedule" | "onFailure" | "seed"> & { priority?: number | undefined }; owner: string; epoch: number; traceparent?: string | undefined; parent?: ParentRef | undefined }
  | { type: "resume"; owner: string; epoch: number }
  | { type: "report"; dispatchId: string }
  /** A signal was just folded (stored at `seq`). */
  | { type: "signal"; seq: number }
  /** A child run's end was just folded (stored at `seq`). */
  | { type: "child"; seq: number }
  | { type: "timer"; key: string; lastHeardAt?: number | undefined }
  /** A worker started the attempt at `startedAt` (the coordinator's clock), as a live signal told (attempt-timers.ts). */
  | { type: "started"; dispatchId: string; startedAt: number }
  | { type: "cancel"; reason: string }
  /** A task message could not be sent and never will be (too large, not JSON): the attempt failed with `error`. */
  | { type: "undeliverable"; dispatchId: string; error: SerializedError }
  /**
   * The coordinator cannot drive the run (its start or resume failed for good, e.g. the
   * plan it serves is not the run's): the run fails as it stands, with `error`. Needs no
   * workflow model, so a coordinator that could not load one decides it on a plain fold.
   */
  | { type: "fail"; error: SerializedError }
  /** The attempt's task message is gone from the transport with nothing heard of the attempt (a forged ack): dispatch it again now, as the watchdog would later. */
  | { type: "lost"; dispatchId: string; reason: string }
  | { type: "retry"; from?: RetryFrom | undefined; reason?: string | undefined; owner: string; epoch: number }
  /**
   * Move the run onto the plan with this hash (`state.models` knows it; upgrade.ts): when
   * `upgradeIssues` finds nothing against it, run.upgraded, then whatever the new plan
   * starts from where the run stands. Otherwise nothing (the caller reports the issues).
   */
  | { type: "upgrade"; planHash: string };

export type Effect =
  | { type: "dispatch"; message: TaskMessage }
  /** Sent only once every event decided before it is stored (a fenced-out writer sends none). */
  | { type: "control"; message: ControlMessage }
  | { type: "timer"; key: string; at: number }
  | { type: "cancelTimer"; key: string }
  /** Start a child run (idempotent by its id) / cancel one (children.ts). */
  | ChildEffect;

export interface Decided {
  events: DecisionEvent[];
  /** The same events stamped with the run id and time, as folded (for listeners). */
  stamped: DecisionRunEvent[];
  effects: Effect[];
}

export interface DecideRandom {
  /** In [0, 1): backoff jitter. */
  jitter(): number;
  /** An unguessable attempt token (at least 16 characters). */
  token(): string;
}

export interface DecideSettings {
  /** Re-dispatch an attempt after this long with nothing heard of it (before its start is known, or without `timeoutMs`). */
  watchdogMs: number;
  /** How often a lost attempt is re-dispatched before its task fails. */
  maxLost: number;
  /** The coordinator fails an attempt as timed out this long after `timeoutMs` of execution, when its worker did not report (attempt-timers.ts). */
  timeoutGraceMs: number;
  /** After a takeover, how long to wait to hear of an attempt's start before judging its queue deadline. */
  startNoticeMs: number;
}

export const DEFAULT_DECIDE_SETTINGS: DecideSettings = { watchdogMs: 10 * 60_000, maxLost: 3, timeoutGraceMs: 5_000, startNoticeMs: 10_000 };

/** Timer keys: per attempt (timeout, watchdog) and per task (retry due). */
const timeoutKey = (dispatchId: string): string => `timeout:${dispatchId}`;
const watchdogKey = (dispatchId: string): string => `watchdog:${dispatchId}`;
const queueKey = (dispatchId: string): string => `queue:${dispatchId}`;
const attemptTimerKey = (kind: AttemptTimer["kind"], dispatchId: string): string => `${kind}:${dispatchId}`;
const retryKey = (state: string, visit: number, task: string): string => `retry:${taskKey(state, visit, task)}`;

class Decision implements WaitHost {
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
      this.fillMaps(v);
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
    const parsed = defs.stateOutput(v.state)?.safeParse(raw);
    if (parsed && !parsed.success) {
      this.emit({ type: "run.failed", error: serializeError(new StateOutputValidationError(v.state, toSchemaIssues(parsed.error.issues))) });
      return;
    }
    const output = parsed ? parsed.data : raw;
    let next: string | null;
    try {
      next = decideNext(index.state(v.state), defs, output, v.outputs);
    } catch (err) {
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

  // --- tasks

  private ref(v: Visit, vt: VisitTask): { state: string; visit: number; task: string } {
    return { state: v.state, visit: v.visit, task: vt.instance?.name ?? vt.layout.name };
  }

  startTask(v: Visit, vt: VisitTask): void {
    if (vt.layout.plan.map) {
      this.startMap(v, vt);
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

  // --- map nodes (README "Fan-out at run time"; the fold is in map-state.ts)

  /** Evaluate the map's items once, record them, and start its first instances. */
  private startMap(v: Visit, vt: VisitTask): void {
    const { defs } = this.model();
    const task = vt.layout.plan;
    const { input } = taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps);
    const result = evaluateItems(defs.mapItems(v.state, task.name), input, task.id);
    if (!result.ok) {
      this.failTask(v, vt, serializeError(result.error));
      return;
    }
    const count = result.items.length;
    const tolerated = toleratedOf(task.map!.toleratedFailures, count);
    const keep = this.st.keepMaps.has(taskKey(v.state, v.visit, task.name)) ? { keep: true } : {};
    for (const [from, items] of chunkItems(result.items)) this.emit({ type: "map.items", ...this.ref(v, vt), count, tolerated, from, items, ...(from === 0 ? keep : {}) });
    this.fillMap(v, vt);
  }

  private mapOf(v: Visit, vt: VisitTask): MapProgress | undefined {
    return this.st.maps.get(taskKey(v.state, v.visit, vt.layout.name));
  }

  /** Start instances of every running map of the visit while they have room. */
  private fillMaps(v: Visit): void {
    // O(maps of the state) per call: pump runs once per report.
    for (const name of v.layout.maps) {
      const vt = v.tasks.get(name);
      if (vt?.status === "running" && this.st.visit === v && !isFinished(this.st)) this.fillMap(v, vt);
    }
  }

  private fillMap(v: Visit, vt: VisitTask): void {
    const mp = this.mapOf(v, vt);
    if (!mp || mp.record.status !== "running") return;
    if (mp.received < mp.count && !this.finishExpansion(v, vt, mp)) return;
    const max = vt.layout.plan.map!.maxConcurrency;
    let parents: Record<string, unknown> | undefined;
    while (mp.open < max && mp.next < mp.count && mp.record.status === "running" && this.st.visit === v && !isFinished(this.st)) {
      if (mp.kept?.has(mp.next) === true) {
        mp.next++; // succeeded before a retry: its output stands
        continue;
      }
      parents ??= taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps).parents;
      this.startInstance(v, vt, mp, mp.next, parents);
    }
  }

  /**
   * The history holds only part of the map's items (its holder stopped while storing a
   * long list): evaluate items again and record the rest, if it is the same length.
   */
  private finishExpansion(v: Visit, vt: VisitTask, mp: MapProgress): boolean {
    const { defs } = this.model();
    const task = vt.layout.plan;
    const result = evaluateItems(defs.mapItems(v.state, task.name), taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps).input, task.id);
    if (result.ok && result.items.length !== mp.count) {
      this.failTask(v, vt, serializeError(new Error(`map "${task.id}": items(input) returned ${result.items.length} items on resume, the history recorded ${mp.count}; make items a pure function of its input`)));
      return false;
    }
    if (!result.ok) {
      this.failTask(v, vt, serializeError(result.error));
      return false;
    }
    for (const [from, items] of chunkItems(result.items, mp.received)) this.emit({ type: "map.items", ...this.ref(v, vt), count: mp.count, tolerated: mp.tolerated, from, items });
    return true;
  }

  private startInstance(v: Visit, node: VisitTask, mp: MapProgress, index: number, parents: Record<string, unknown>): void {
    const name = instanceName(node.layout.name, index);
    const record = taskRecordOf(this.st, v.state, v.visit, name);
    const attempts = record?.attempts ?? 0;
    // The instance as it is about to start: evolve adds it to the visit when its dispatch is folded.
    const vt: VisitTask = { layout: node.layout, status: "pending", attempts, firstAttempt: attempts + 1, lost: 0, waitingFor: 0, record, instance: { name, index } };
    const checked = this.checkInput(v, vt, mp.items[index]);
    if (!checked.ok) this.failTask(v, vt, checked.error);
    else this.sendAttempt(v, vt, attempts + 1, checked.value, parents);
  }

  private checkInput(v: Visit, vt: VisitTask, input: unknown): ReturnType<typeof checkSchema> {
    const { defs } = this.model();
    const id = vt.instance ? `${vt.layout.plan.id}[${vt.instance.index}]` : vt.layout.plan.id;
    return checkSchema(defs.taskInput(v.state, vt.layout.name), input, (issues) => new TaskInputValidationError(id, issues));
  }

  /** An instance failed after its last attempt: past the tolerated count, its map fails. */
  private instanceFailed(v: Visit, vt: VisitTask): void {
    const node = v.tasks.get(vt.layout.name);
    const mp = node && this.mapOf(v, node);
    if (!node || !mp || mp.record.status !== "running" || mp.failed <= mp.tolerated) return;
    const first = taskRecordOf(this.st, v.state, v.visit, mp.firstFailure ?? vt.instance!.name);
    const err = first?.error ?? { code: "UNKNOWN", message: "unknown failure" };
    const error = new MapFailedError(node.layout.plan.id, mp.failed, mp.count, mp.tolerated, { id: first?.id ?? vt.layout.plan.id, code: err.code, message: err.message });
    // Under "continue" the rest of the map is of no use either; fail-fast stops everything below.
    if (this.options.onFailure !== "fail-fast") this.stopInstances(v, node.layout.name, `map "${node.layout.plan.id}" failed`);
    this.failTask(v, node, serializeError(error));
  }

  private stopInstances(v: Visit, map: string, reason: string): void {
    for (const vt of v.tasks.values()) {
      if (!vt.instance || vt.layout.name !== map) continue;
      const dispatchId = vt.record?.dispatchId;
      if (vt.status === "retrying") this.effects.push({ type: "cancelTimer", key: retryKey(v.state, v.visit, vt.instance.name) });
      else if (dispatchId !== undefined) this.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.attempt", runId: this.st.runId, dispatchId, reason } });
      this.disarm(dispatchId);
      cancelChildOf(this, vt, reason);
      this.emit({ type: "task.cancelled", ...this.ref(v, vt), reason });
    }
  }

  private sendAttempt(v: Visit, vt: VisitTask, attempt: number, input: unknown, parents: Record<string, unknown>): void {
    // Signal and sleep nodes wait here, in the decider, instead of on a worker (run-waits.ts).
    if (vt.layout.plan.wait) {
      startWait(this, v, vt, attempt, input);
      return;
    }
    const { plan, defs } = this.model();
    const task = vt.layout.plan;
    const runId = this.st.runId;
    const name = vt.instance?.name ?? task.name;
    const dispatchId = dispatchIdOf(runId, v.state, v.visit, name, attempt);
    // timeoutMs runs from the attempt's start on a worker (attempt-timers.ts); the dispatch sets only the queue deadline.
    const deadline = null;
    const startBy = task.queueTimeoutMs === undefined ? undefined : this.now + task.queueTimeoutMs;
    const token = this.random.token();
    const judged = defs.taskOutput(v.state, task.name) !== undefined;
    // Parents' outputs travel once: the worker rebuilds the merge unless a schema reshaped it.
    // Not for a map instance (its input is its item), nor after a map (the worker's merge does not know a map's output goes under its name).
    const viaParents = vt.instance === undefined && !vt.layout.parents.some((p) => v.layout.maps.has(p));
    const inputFrom = viaParents && rebuildsFromParents(vt.layout.parents, parents, input, defs.taskInput(v.state, task.name) !== undefined) ? vt.layout.parents : undefined;
    this.emit({ type: "task.dispatched", ...this.ref(v, vt), attempt, dispatchId, executor: task.executor, deadline, ...(startBy !== undefined ? { startBy } : {}), tokenHash: tokenHashOf(token), judged });
    // The decider knows its own tokens (folded, never stored): its shell checks their reports without hashing.
    evolve(this.st, { type: "attempt.token", dispatchId, token });
    const message: TaskMessage = {
      v: WIRE_VERSION,
      runId,
      planHash: plan.planHash,
      workflow: plan.workflow,
      state: v.state,
      visit: v.visit,
      task: name,
      attempt,
      dispatchId,
      executor: task.executor,
      idempotencyKey: idempotencyKeyOf(runId, v.state, v.visit, name, this.st.round),
      ...(inputFrom !== undefined ? { inputFrom: [...inputFrom] } : { input }),
      parents,
      deadline,
      timeoutMs: task.timeoutMs,
      dispatchedAt: this.now,
      round: this.st.round,
      epoch: this.st.epoch,
      token,
      seed: taskSeed(this.st.record.seed ?? seedOfRunId(runId), task.id, vt.instance?.index),
    };
    if (startBy !== undefined) message.startBy = startBy;
    const priority = this.st.record.options?.priority;
    if (priority !== undefined) message.priority = priority;
    if (task.params !== undefined) message.params = task.params;
    if (vt.instance) message.item = { index: vt.instance.index, count: this.mapOf(v, vt)?.count ?? 0 };
    this.effects.push({ type: "dispatch", message });
    this.armAttempt(dispatchId, timersAtDispatch({ startBy }, this.now, this.settings));
  }

  private armAttempt(dispatchId: string, timers: readonly AttemptTimer[]): void {
    for (const t of timers) this.effects.push({ type: "timer", key: attemptTimerKey(t.kind, dispatchId), at: t.at });
  }

  /** A worker started the attempt: its queue deadline is met, and its timeout runs from now on. */
  started(dispatchId: string, startedAt: number): void {
    const a = this.st.attempts.get(dispatchId);
    if (!a || this.st.verdicts.has(dispatchId)) return;
    const v = this.st.visit;
    const vt = v && v.state === a.task.state && v.visit === a.task.visit ? v.tasks.get(a.task.task) : undefined;
    if (!vt) return;
    const learned = learnStart(a, startedAt, vt.layout.plan.timeoutMs, this.settings);
    if (!learned) return;
    evolve(this.st, { type: "attempt.start", dispatchId, startedAt });
    for (const kind of learned.drop) this.effects.push({ type: "cancelTimer", key: attemptTimerKey(kind, dispatchId) });
    this.armAttempt(dispatchId, learned.timers);
  }

  /** The current attempt of `vt` settled or went away: its timers are of no use. */
  private disarm(dispatchId: string | undefined): void {
    if (dispatchId === undefined) return;
    this.effects.push({ type: "cancelTimer", key: timeoutKey(dispatchId) }, { type: "cancelTimer", key: watchdogKey(dispatchId) }, { type: "cancelTimer", key: queueKey(dispatchId) });
  }

  /** Judge a report waiting for its verdict (folded already). */
  judge(dispatchId: string): void {
    const pending = this.st.verdicts.get(dispatchId);
    const v = this.st.visit;
    if (!pending || !v) return;
    const t = pending.attempt.task;
    const vt = v.state === t.state && v.visit === t.visit ? v.tasks.get(t.task) : undefined;
    if (!vt) return;
    this.disarm(dispatchId);
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
    this.disarm(dispatchId);
  }

  private failTask(v: Visit, vt: VisitTask, error: SerializedError, attempt = vt.attempts): void {
    this.emit({ type: "task.failed", ...this.ref(v, vt), attempt, error });
    if (vt.instance) {
      this.instanceFailed(v, vt);
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
      this.disarm(vt.record?.dispatchId);
      if (vt.status === "retrying") this.effects.push({ type: "cancelTimer", key: retryKey(v.state, v.visit, this.ref(v, vt).task) });
      if (vt.record?.wait) this.effects.push({ type: "cancelTimer", key: waitKey(v.state, v.visit, vt.layout.name) });
      cancelChildOf(this, vt, reason);
      this.emit({ type: "task.cancelled", ...this.ref(v, vt), reason });
    }
    this.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.run", runId: this.st.runId, reason, round: this.st.round } });
  }

  // --- timers

  timer(key: string, lastHeardAt: number | undefined): void {
    const v = this.st.visit;
    if (!v || isFinished(this.st)) return;
    const colon = key.indexOf(":");
    const kind = key.slice(0, colon);
    const rest = key.slice(colon + 1);
    if (kind === "wait") {
      waitTimer(this, key);
      return;
    }
    if (kind === "retry") {
      const [state, visit, task] = rest.split("\u0000");
      if (state !== v.state || Number(visit) !== v.visit) return;
      const vt = v.tasks.get(task ?? "");
      if (!vt || vt.status !== "retrying") return;
      const { input: merged, parents } = taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps);
      const input = vt.instance ? this.mapOf(v, vt)?.items[vt.instance.index] : merged;
      const checked = this.checkInput(v, vt, input);
      if (!checked.ok) this.failTask(v, vt, checked.error);
      else this.sendAttempt(v, vt, vt.attempts + 1, checked.value, parents);
      return;
    }
    const a = this.st.attempts.get(rest);
    if (!a || this.st.verdicts.has(rest)) return;
    const t = a.task;
    if (t.state !== v.state || t.visit !== v.visit) return;
    const vt = v.tasks.get(t.task);
    if (!vt) return;
    if (kind === "timeout") {
      if (!timeoutDue(a, vt.layout.plan.timeoutMs, this.now, this.settings)) return;
      const ms = vt.layout.plan.timeoutMs ?? 0;
      this.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.attempt", runId: this.st.runId, dispatchId: rest, reason: `timed out after ${ms} ms` } });
      this.disarm(rest);
      this.attemptFailed(v, vt, a.attempt, serializeError(new TaskTimeoutError(vt.layout.plan.id, ms)));
    } else if (kind === "queue") {
      if (!queueDue(a, this.now)) return;
      const ms = vt.layout.plan.queueTimeoutMs ?? 0;
      this.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.attempt", runId: this.st.runId, dispatchId: rest, reason: `not started within ${ms} ms (queueTimeoutMs)` } });
      this.disarm(rest);
      this.attemptFailed(v, vt, a.attempt, serializeError(new QueueTimeoutError(vt.layout.plan.id, ms)));
    } else if (kind === "watchdog") {
      const heard = Math.max(a.dispatchedAt, lastHeardAt ?? 0);
      const silent = this.now - heard;
      if (silent < this.settings.watchdogMs) {
        this.effects.push({ type: "timer", key, at: heard + this.settings.watchdogMs });
        return;
      }
      this.lose(v, vt, a.attempt, rest, serializeError(new AttemptLostError(vt.layout.plan.id, silent)));
    }
  }

  /** An attempt nothing will come of: dispatch it again now (counted against maxLost), or fail its task. */
  private lose(v: Visit, vt: VisitTask, attempt: number, dispatchId: string, error: SerializedError): void {
    this.disarm(dispatchId);
    if (vt.lost >= this.settings.maxLost) {
      this.failTask(v, vt, error, attempt);
      return;
    }
    this.emit({ type: "task.retrying", ...this.ref(v, vt), attempt, nextAttempt: attempt + 1, dueAt: this.now, error });
    this.timer(retryKey(v.state, v.visit, this.ref(v, vt).task), undefined);
  }

  /** The `lost` trigger: only an attempt still waiting for its start (nothing heard, no report) is dispatched again. */
  lostAttempt(dispatchId: string, reason: string): void {
    const v = this.st.visit;
    const a = this.st.attempts.get(dispatchId);
    if (!v || !a || isFinished(this.st) || this.st.verdicts.has(dispatchId) || a.task.status !== "dispatched") return;
    if (a.task.state !== v.state || a.task.visit !== v.visit) return;
    const vt = v.tasks.get(a.task.task);
    if (!vt) return;
    const id = vt.instance ? `${vt.layout.plan.id}[${vt.instance.index}]` : vt.layout.plan.id;
    this.lose(v, vt, a.attempt, dispatchId, serializeError(new PhaseflowError("ATTEMPT_LOST", `task "${id}" attempt ${a.attempt}: ${reason}; it is dispatched again`)));
  }

  /** Re-arm the timers of every attempt and retry of the visit under way (resume). */
  rearm(): void {
    const v = this.st.visit;
    if (!v) return;
    for (const a of this.st.attempts.values()) {
      if (this.st.verdicts.has(a.dispatchId)) continue;
      const vt = v.state === a.task.state && v.visit === a.task.visit ? v.tasks.get(a.task.task) : undefined;
      this.armAttempt(a.dispatchId, timersAtResume(a, vt?.layout.plan.timeoutMs ?? null, this.now, this.settings));
    }
    for (const vt of v.tasks.values()) {
      if (vt.status === "retrying") this.effects.push({ type: "timer", key: retryKey(v.state, v.visit, this.ref(v, vt).task), at: vt.record?.dueAt ?? this.now });
    }
    rearmWaits(this);
  }

  /** The run is on another plan now: its timers follow the new plan's settings, and what it has that is ready starts. */
  upgraded(): void {
    if (isFinished(this.st) || !this.st.visit) return;
    this.rearm();
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
      this.rearm();
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
      d.timer(trigger.key, trigger.lastHeardAt);
      d.pump();
      break;
    case "started":
      d.started(trigger.dispatchId, trigger.startedAt);
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
      d.lostAttempt(trigger.dispatchId, trigger.reason);
      d.pump();
      break;
    case "cancel":
      if (!isFinished(state)) {
        if (state.visit) d.stopInFlight(state.visit, trigger.reason);
        d.emit({ type: "run.cancelled", reason: trigger.reason });
      }
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
