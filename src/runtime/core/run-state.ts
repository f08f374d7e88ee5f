/**
 * One run state, one fold: `evolve(state, event)` is the only definition of where a
 * run stands. The live coordinator, resume after a crash, `retry`, the KV summary,
 * `status`, the CLI follower and the web view all fold a run's history with it
 * (history.ts orders the stored messages first); nothing else keeps a copy of it.
 *
 * The state holds the public run record (what `handle.result()` returns) and, when
 * folded with a model (run-model.ts), the bookkeeping the decider needs for the
 * state visit under way: each task's status, open counts per phase, outputs so far,
 * and parents still awaited — all O(1) per event, so a 10,000-task phase costs
 * O(10,000) however its reports interleave.
 *
 * Reports are checked here, so every reader accepts the same ones: a report counts
 * only for the task's current, unsettled attempt, with the token that attempt was
 * dispatched with (its hash is in task.dispatched). Anything else is counted in
 * `refused` and changes nothing. A success of a task without an output schema is
 * the verdict itself; a failure, or a success that an output schema must judge,
 * waits in `verdicts` for the decider's task.retrying / task.failed / task.succeeded.
 *
 * evolve updates the state in place and returns it: a state belongs to one fold.
 */
import { sha256Hex } from "../../support/hash.js";
import type { SerializedError } from "../../errors/serialize.js";
import type { LiveSignal, RunEvent } from "../../transport/messages.js";
import type { StateLayout, TaskLayout } from "./dataflow.js";
import type { RunModel } from "./run-model.js";
import { PENDING, initialRunSnapshot, stepRunMachine, type RunMachineSnapshot } from "./run-machine.js";
import type { RunRecord, SignalRecord, StateRecord, TaskRecord, TaskStatus } from "./run-record-schema.js";
import { foldMapItems, instanceName, keepInstance, mapOutputOf, parseInstance, trackInstance, type MapProgress } from "./map-state.js";
import { CompactInstances, isInFlight, type InstanceTable } from "./map-instances.js";

/** One task of the visit under way, as the decider sees it. */
export interface VisitTask {
  readonly layout: TaskLayout;
  status: TaskStatus;
  /** Attempts dispatched so far (they go on across a partial re-run). */
  attempts: number;
  /** The first attempt of this go (a partial re-run starts the retry count over). */
  firstAttempt: number;
  /** Attempts re-dispatched because nothing was heard of them (not counted against retries). */
  lost: number;
  /** Parents not yet succeeded (eager scheduling). */
  waitingFor: number;
  record: TaskRecord | undefined;
  /** A map instance in flight (its layout is its map node's): its name (`run[3]`) and index. */
  instance?: { readonly name: string; readonly index: number } | undefined;
}

/** The state visit under way. */
export interface Visit {
  readonly state: string;
  readonly visit: number;
  readonly input: unknown;
  readonly layout: StateLayout;
  readonly tasks: Map<string, VisitTask>;
  /** Highest phase any task of which was decided on; -1 before the first. */
  phase: number;
  /** Tasks not settled (pending, dispatched, running, retrying). */
  open: number;
  readonly phaseOpen: number[];
  readonly outputs: Map<string, unknown>;
  /** Tasks failed after their last attempt, in order. */
  readonly failures: string[];
  /**
   * Pending tasks whose parents all succeeded, in the order they became ready: a task
   * leaves it as soon as it is no longer pending. Eager scheduling starts them in order.
   */
  readonly ready: Set<string>;
}

export interface AttemptInfo {
  readonly task: TaskRecord;
  readonly dispatchId: string;
  readonly attempt: number;
  readonly tokenHash: string;
  readonly judged: boolean;
  /** An older history's end-by time (dispatch + timeoutMs); null from this version on, and not acted on (timeouts run from the start). */
  readonly deadline: number | null;
  readonly dispatchedAt: number;
  /** The queue deadline (`queueTimeoutMs`): the attempt must have started by then. */
  readonly startBy: number | undefined;
  /**
   * When a worker started it, by the deciding coordinator's clock, as learned from a live
   * signal (attempt-timers.ts). Not history: a new holder learns it again from the next
   * heartbeat, and meanwhile the watchdog watches the attempt.
   */
  startedAt?: number | undefined;
  /**
   * The token itself, known only to the decider that made it (folded from its
   * `attempt.token` note, a DeciderNote, never from a history): it checks its own attempts' reports
   * without hashing. Readers check the hash.
   */
  token?: string;
}

/**
 * What only the deciding coordinator knows of an attempt, never stored nor sent, so no
 * reader's fold has it: its token (`decide` folds it right after the attempt's
 * task.dispatched; the history holds the token's hash), and when a worker started it
 * (learned from a live signal, attempt-timers.ts).
 */
export type DeciderNote =
  | { readonly type: "attempt.token"; readonly dispatchId: string; readonly token: string }
  | { readonly type: "attempt.start"; readonly dispatchId: string; readonly startedAt: number };

/** What `evolve` folds: a run event, or (the decider's own fold only) a note of its own. */
export type FoldedEvent = RunEvent | DeciderNote;

export type PendingVerdict =
  | { kind: "succeeded"; attempt: AttemptInfo; output: unknown }
  | { kind: "failed"; attempt: AttemptInfo; error: SerializedError };

export interface RunState {
  readonly runId: string;
  readonly record: RunRecord;
  /** The model of the plan the run is on at this point of the fold (it changes at run.upgraded); undefined: a plain fold. */
  model: RunModel | undefined;
  /** The models this fold may use by plan hash (the run's start and its upgrades): undefined for one it does not know. */
  readonly models: ((planHash: string) => RunModel | undefined) | undefined;
  machine: RunMachineSnapshot | undefined;
  /** Which go of the run: 0, +1 per run.retried. */
  round: number;
  owner: string | undefined;
  epoch: number;
  /** Sequence number of the last report folded. */
  through: number;
  /** State entries that count against maxVisits: like the visit numbers, but a re-run from an earlier state winds them back to it. */
  entries: Record<string, number>;
  visit: Visit | undefined;
  /** Current unsettled attempts by dispatch id. */
  readonly attempts: Map<string, AttemptInfo>;
  /** Reports that wait for the decider's verdict, by dispatch id. */
  readonly verdicts: Map<string, PendingVerdict>;
  /** Reports refused: not for a current attempt, wrong token. */
  refused: number;
  readonly tasks: Map<string, TaskRecord>;
  readonly states: Map<string, StateRecord>;
  /** Map nodes expanded so far, by task key (map-state.ts). */
  readonly maps: Map<string, MapProgress>;
  /**
   * A coordinator's fold: map instances not in flight are kept in columns
   * (map-instances.ts), not in `tasks` nor `record.tasks`; read the record with
   * `runRecordOf` (run-record.ts) and a task with `taskRecordOf`. Undefined: plain records.
   */
  readonly compact: CompactInstances | undefined;
  /** Signals sent to the run and not consumed yet, in stored order (run-waits.ts consumes them). */
  readonly signals: PendingSignal[];
  /** Map nodes (task keys) the last run.retried re-runs keeping their succeeded instances. */
  keepMaps: ReadonlySet<string>;
  /** Ids of every signal folded: a repeated id is refused. */
  readonly signalIds: Set<string>;
  /** Ends of child runs (child.ended), the first per child run id (children.ts consumes them). */
  readonly childEnds: Map<string, ChildEnd>;
}

/** A child's end as folded from `child.ended` (the first one per child; children.ts consumes it). */
export interface ChildEnd {
  readonly seq: number;
  readonly status: "succeeded" | "failed" | "cancelled";
  readonly output?: unknown;
  readonly error?: SerializedError | undefined;
}

export interface PendingSignal {
  readonly seq: number;
  readonly name: string;
  readonly payload: unknown;
  readonly record: SignalRecord;
}

const OPEN: ReadonlySet<TaskStatus> = new Set(["pending", "dispatched", "running", "retrying"]);
export const isOpenStatus = (s: TaskStatus): boolean => OPEN.has(s);

export const taskKey = (state: string, visit: number, task: string): string => `${state}\u0000${visit}\u0000${task}`;
const stateKey = (state: string, visit: number): string => `${state}\u0000${visit}`;

/** The hash of an attempt token recorded in task.dispatched. */
export function tokenHashOf(token: string): string {
  return sha256Hex(token).slice(0, 32);
}

export interface RunStateOptions {
  /** Keep map instances that are not in flight in compact columns rather than task records (a coordinator's memory); default false. */
  compact?: boolean;
  /**
   * Models of other plans by hash, for a run that was upgraded (`run.upgraded`): the fold
   * switches to the plan each run.started and run.upgraded names, and folds plainly
   * (no model) where it knows none. Without it, `model` is used throughout.
   */
  models?: (planHash: string) => RunModel | undefined;
}

/**
 * A run state with nothing folded yet.
 * @example const state = foldEvents(createRunState(runId, model), historyEvents(messages));
 */
export function createRunState(runId: string, model?: RunModel, options: RunStateOptions = {}): RunState {
  return {
    runId,
    record: { runId, workflow: "", version: "", planHash: "", status: "pending", states: [], tasks: [] },
    model,
    models: options.models === undefined ? undefined : (hash) => (model?.plan.planHash === hash ? model : options.models!(hash)),
    machine: model ? initialRunSnapshot(model.machine) : undefined,
    round: 0,
    owner: undefined,
    epoch: 0,
    through: 0,
    entries: {},
    visit: undefined,
    attempts: new Map(),
    verdicts: new Map(),
    refused: 0,
    tasks: new Map(),
    states: new Map(),
    maps: new Map(),
    compact: options.compact === true ? new CompactInstances() : undefined,
    signals: [],
    signalIds: new Set(),
    keepMaps: new Set(),
    childEnds: new Map(),
  };
}

/** Fold `events` into `state`, in order. */
export function foldEvents(state: RunState, events: Iterable<RunEvent>): RunState {
  for (const e of events) evolve(state, e);
  return state;
}

export function isFinished(state: Pick<RunState, "record">): boolean {
  const s = state.record.status;
  return s === "succeeded" || s === "failed" || s === "cancelled";
}

function taskOf(st: RunState, e: { state: string; visit: number; task: string }): TaskRecord {
  const key = taskKey(e.state, e.visit, e.task);
  let t = st.tasks.get(key);
  if (!t) {
    t = { id: `${e.state}/${e.task}`, state: e.state, visit: e.visit, task: e.task, status: "pending", attempts: 0 };
    st.tasks.set(key, t);
    st.record.tasks.push(t);
    st.compact?.plainOrder.push(st.compact.made++);
    const vt = visitTask(st, e);
    if (vt) vt.record = t;
  }
  return t;
}

function visitTask(st: RunState, e: { state: string; visit: number; task: string }): VisitTask | undefined {
  const v = st.visit;
  return v && v.state === e.state && v.visit === e.visit ? v.tasks.get(e.task) : undefined;
}

/**
 * The decider's view of a task an attempt of which is now out (dispatched, or parked on a
 * wait): its status, the attempts it has had, and the visit's phase reaching the task's.
 */
function markVisitTask(st: RunState, e: { state: string; visit: number; task: string; attempt: number }, status: "dispatched" | "running"): void {
  const vt = visitTask(st, e);
  if (!vt) return;
  leavePending(st.visit!, vt);
  vt.status = status;
  vt.attempts = Math.max(vt.attempts, e.attempt);
  if (vt.layout.plan.phase > st.visit!.phase) st.visit!.phase = vt.layout.plan.phase;
}

/** A task of the visit is decided on: it is no longer waiting to be started. */
function leavePending(v: Visit, vt: VisitTask): void {
  if (vt.status === "pending" && vt.instance === undefined) v.ready.delete(vt.layout.name);
}

/** A visit's scheduling view, from its records (entry: none yet; re-run: the recorded ones). */
function openVisit(st: RunState, state: string, visit: number, input: unknown, rerun?: ReadonlySet<string>): Visit | undefined {
  const model = st.model;
  if (!model) return undefined;
  const layout = model.layout(state);
  const phases = layout.state.phases.length;
  const v: Visit = { state, visit, input, layout, tasks: new Map(), phase: -1, open: 0, phaseOpen: new Array<number>(phases).fill(0), outputs: new Map(), failures: [], ready: new Set() };
  for (const tl of layout.tasks) {
    const record = st.tasks.get(taskKey(state, visit, tl.name));
    const again = rerun === undefined || rerun.has(tl.name) || record === undefined;
    const attempts = record?.attempts ?? 0;
    const status: TaskStatus = again ? "pending" : record.status;
    v.tasks.set(tl.name, { layout: tl, status, attempts, firstAttempt: attempts + 1, lost: 0, waitingFor: tl.parents.length, record });
    if (isOpenStatus(status)) {
      v.open++;
      v.phaseOpen[tl.plan.phase]!++;
    } else if (status === "succeeded") {
      v.outputs.set(tl.name, record?.output);
    }
  }
  for (const vt of v.tasks.values()) if (vt.status === "succeeded") for (const c of vt.layout.children) v.tasks.get(c)!.waitingFor--;
  for (const vt of v.tasks.values()) if (vt.status === "pending" && vt.waitingFor === 0) v.ready.add(vt.layout.name);
  return v;
}

function settle(st: RunState, e: { state: string; visit: number; task: string }, status: TaskStatus, output?: unknown): void {
  const vt = visitTask(st, e);
  if (!vt) return;
  const v = st.visit!;
  if (vt.instance) {
    // An instance is not a node of the DAG: its map node settles for it (map-state.ts).
    vt.status = status;
    v.tasks.delete(vt.instance.name);
    return;
  }
  if (isOpenStatus(vt.status)) {
    v.open--;
    v.phaseOpen[vt.layout.plan.phase]!--;
  }
  leavePending(v, vt);
  vt.status = status;
  // A skip is decided ahead, for tasks of later phases: it says nothing of how far the visit got.
  if (status !== "skipped" && vt.layout.plan.phase > v.phase) v.phase = vt.layout.plan.phase;
  if (status === "succeeded") {
    v.outputs.set(vt.layout.name, output);
    for (const c of vt.layout.children) {
      const child = v.tasks.get(c)!;
      if (--child.waitingFor === 0 && child.status === "pending") v.ready.add(c);
    }
  } else if (status === "failed") {
    v.failures.push(vt.layout.name);
  }
}

function dropAttempt(st: RunState, t: TaskRecord): void {
  if (t.dispatchId === undefined) return;
  st.attempts.delete(t.dispatchId);
  st.verdicts.delete(t.dispatchId);
}

function endRun(st: RunState, status: "succeeded" | "failed" | "cancelled", at: number): void {
  const r = st.record;
  r.status = status;
  r.finishedAt = at;
  for (let i = r.states.length - 1; i >= 0; i--) {
    const s = r.states[i]!;
    if (s.status !== "running") continue;
    s.status = status;
    s.exitedAt = at;
    break;
  }
  if (st.model && st.machine) st.machine = stepRunMachine(st.model.machine, st.machine, { type: "finish", status });
  st.visit = undefined;
  st.attempts.clear();
  st.verdicts.clear();
}

/** A map expanded again (a re-run): its earlier instances' records start over, but those in `kept`. */
function resetInstances(st: RunState, previous: MapProgress, kept?: ReadonlySet<number>): void {
  const table = st.compact?.tables.get(taskKey(previous.state, previous.visit, previous.task));
  table?.resetStored(previous.count, kept);
  for (let k = 0; k < previous.count; k++) {
    if (kept?.has(k)) continue;
    const key = taskKey(previous.state, previous.visit, instanceName(previous.task, k));
    const t = st.tasks.get(key);
    if (!t) continue;
    t.status = "pending";
    for (const field of CLEARED_ON_RERUN) delete t[field];
    if (table?.live.get(k) === t) {
      table.store(k, t);
      st.tasks.delete(key);
    }
  }
}

const CLEARED_ON_RERUN = ["dispatchId", "workerId", "startedAt", "finishedAt", "durationMs", "dueAt", "output", "error", "progress", "redeliveries", "reason", "wait"] as const;

function reopen(st: RunState, e: RunEvent & { type: "run.retried" }): void {
  const r = st.record;
  r.status = "running";
  delete r.error;
  delete r.output;
  delete r.reason;
  delete r.finishedAt;
  r.currentState = e.state;
  st.round++;
  const s = st.states.get(stateKey(e.state, e.visit));
  if (s) {
    s.status = "running";
    delete s.exitedAt;
    delete s.output;
    delete s.next;
  }
  // What counts against maxVisits goes back to how things stood when that visit was entered.
  st.entries = {};
  for (const rec of r.states) {
    st.entries[rec.name] = (st.entries[rec.name] ?? 0) + 1;
    if (rec.name === e.state && rec.visit === e.visit) break;
  }
  const rerun = new Set(e.tasks);
  st.keepMaps = new Set((e.keep ?? []).map((name) => taskKey(e.state, e.visit, name)));
  for (const name of e.tasks) {
    const t = st.tasks.get(taskKey(e.state, e.visit, name));
    if (!t) continue;
    t.status = "pending";
    for (const key of CLEARED_ON_RERUN) delete t[key];
  }
  if (st.model && st.machine) st.machine = stepRunMachine(st.model.machine, st.machine, { type: "reopen", state: e.state });
  st.visit = openVisit(st, e.state, e.visit, s?.input, rerun);
}

/**
 * The run is on another plan from here on (upgrade.ts): the record names it, and a fold
 * with models rebuilds the visit under way on the new plan's layout from its task
 * records (and the in-flight tasks' retry counts the event carries), as every fold of
 * the history does at this event, live or replayed.
 */
function upgraded(st: RunState, e: RunEvent & { type: "run.upgraded" }): void {
  const r = st.record;
  r.version = e.version;
  r.planHash = e.planHash;
  (r.upgrades ??= []).push({ at: e.at, from: e.from, version: e.version, planHash: e.planHash });
  if (!st.models && !st.model) return;
  const model = st.models ? st.models(e.planHash) : st.model?.plan.planHash === e.planHash ? st.model : undefined;
  st.model = model;
  st.visit = undefined;
  if (!model) {
    st.machine = undefined;
    return;
  }
  const current = isFinished(st) ? undefined : [...r.states].reverse().find((s) => s.status === "running");
  const visits: Record<string, number> = {};
  for (const s of r.states) visits[s.name] = (visits[s.name] ?? 0) + 1;
  st.machine = model.machine.resolveState({ value: current?.name ?? PENDING, context: { visits } });
  if (!current) return;
  const v = openVisit(st, current.name, current.visit, current.input, new Set());
  if (!v) return;
  // In-flight map instances are not nodes of the layout: the decider's view of each is rebuilt too.
  for (const t of st.tasks.values()) {
    if (t.state !== v.state || t.visit !== v.visit || !isOpenStatus(t.status)) continue;
    const inst = parseInstance(t.task);
    const node = inst && v.tasks.get(inst.map);
    if (inst && node) v.tasks.set(t.task, { layout: node.layout, status: t.status, attempts: t.attempts, firstAttempt: 1, lost: 0, waitingFor: 0, record: t, instance: { name: t.task, index: inst.index } });
  }
  // A first go unless the event says otherwise (a partial re-run's go, attempts lost).
  for (const vt of v.tasks.values()) {
    if (!isOpenStatus(vt.status) || vt.status === "pending") continue;
    vt.firstAttempt = 1;
    vt.lost = 0;
  }
  for (const c of e.carry ?? []) {
    const vt = v.tasks.get(c.task);
    if (!vt) continue;
    vt.firstAttempt = c.firstAttempt;
    vt.lost = c.lost;
  }
  for (const vt of v.tasks.values()) if (vt.status !== "pending" && vt.status !== "skipped" && vt.instance === undefined && vt.layout.plan.phase > v.phase) v.phase = vt.layout.plan.phase;
  st.visit = v;
}

/** A report for the current attempt with the right token, or undefined (refused). */
function currentAttempt(st: RunState, e: RunEvent & { type: "attempt.succeeded" | "attempt.failed" }): AttemptInfo | undefined {
  const a = st.attempts.get(e.dispatchId);
  if (!a || st.verdicts.has(e.dispatchId)) return undefined;
  const t = a.task;
  if (t.state !== e.state || t.visit !== e.visit || t.task !== e.task || a.attempt !== e.attempt) return undefined;
  if (t.status !== "dispatched" && t.status !== "running") return undefined;
  const ok = a.token !== undefined ? e.token === a.token : tokenHashOf(e.token) === a.tokenHash;
  return ok ? a : undefined;
}

/**
 * Apply one event of a run's history to its state, in place; returns the same state.
 * @example
 * const state = createRunState(runId, model);
 * for (const e of historyEvents(messages)) evolve(state, e);
 */
export function evolve(st: RunState, e: FoldedEvent): RunState {
  if (!("task" in e) || e.type === "map.items") return evolveOne(st, e);
  const inst = parseInstance(e.task);
  if (!inst) return evolveOne(st, e);
  const key = taskKey(e.state, e.visit, e.task);
  const mapKey = taskKey(e.state, e.visit, inst.map);
  const table = st.compact ? liveInstance(st, e, key, mapKey, inst.index) : undefined;
  const before = st.tasks.get(key)?.status;
  if (e.type === "task.dispatched" || e.type === "task.waiting") openInstance(st, e, inst.index);
  evolveOne(st, e);
  const t = st.tasks.get(key);
  const mp = st.maps.get(mapKey);
  if (!t || !mp) return st;
  t.map ??= inst.map;
  t.index ??= inst.index;
  const settled = trackInstance(mp, t, inst.index, before);
  if (table?.live.get(inst.index) === t && !isInFlight(t.status)) {
    table.store(inst.index, t);
    st.tasks.delete(key);
  }
  if (settled) {
    const m = mp.record;
    m.status = "succeeded";
    m.output = table && isWhole(table, mp.count) ? table.mapOutput(mp.count) : mapOutputOf(mp, (k) => taskRecordOf(st, mp.state, mp.visit, instanceName(mp.task, k)));
    m.finishedAt = e.at;
    settle(st, { state: mp.state, visit: mp.visit, task: mp.task }, "succeeded", m.output);
  }
  return st;
}

/**
 * A compact fold: the instance's table (undefined when its index is out of the map's
 * range, so it is a plain record), with the instance's record made live first when the
 * event changes it (a task.* event; a report finds its record through its attempt).
 */
function liveInstance(st: RunState, e: { type: string; state: string; visit: number; task: string }, key: string, mapKey: string, index: number): InstanceTable | undefined {
  const table = st.compact!.tables.get(mapKey);
  if (!table || index >= table.capacity) return undefined;
  if (e.type.startsWith("task.") && !st.tasks.has(key)) {
    const t = table.has(index) ? table.revive(index) : table.create(index, st.compact!.made++);
    st.tasks.set(key, t);
    const vt = visitTask(st, e);
    if (vt) vt.record = t;
  }
  return table;
}

/** Whether every instance of the map below `count` is in the table (none was recorded as a plain task). */
function isWhole(table: InstanceTable, count: number): boolean {
  for (let k = 0; k < count; k++) if (!table.has(k)) return false;
  return true;
}

/**
 * A task's record, whether held as an object or (a settled map instance of a compact
 * fold) in its map's columns, then built anew for this call.
 * @example const t = taskRecordOf(state, "grid", 1, "run[3]");
 */
export function taskRecordOf(st: RunState, state: string, visit: number, task: string): TaskRecord | undefined {
  const t = st.tasks.get(taskKey(state, visit, task));
  if (t || !st.compact) return t;
  const inst = parseInstance(task);
  return inst && st.compact.tables.get(taskKey(state, visit, inst.map))?.record(inst.index);
}

/** The decider's view of an instance in flight: made on its first dispatch of this go, dropped when it settles. */
function openInstance(st: RunState, e: { state: string; visit: number; task: string; attempt: number }, index: number): void {
  const v = st.visit;
  if (!v || v.state !== e.state || v.visit !== e.visit || v.tasks.has(e.task)) return;
  const node = v.tasks.get(e.task.slice(0, e.task.lastIndexOf("[")));
  if (!node) return;
  const record = st.tasks.get(taskKey(e.state, e.visit, e.task));
  v.tasks.set(e.task, { layout: node.layout, status: "pending", attempts: record?.attempts ?? 0, firstAttempt: e.attempt, lost: 0, waitingFor: 0, record, instance: { name: e.task, index } });
}

function evolveOne(st: RunState, e: FoldedEvent): RunState {
  const r = st.record;
  switch (e.type) {
    case "through":
      break;
    case "attempt.token": {
      const a = st.attempts.get(e.dispatchId);
      if (a) a.token = e.token;
      break;
    }
    case "attempt.start": {
      const a = st.attempts.get(e.dispatchId);
      if (a) a.startedAt = e.startedAt;
      break;
    }
    case "map.items": {
      const t = taskOf(st, e);
      const key = taskKey(e.state, e.visit, e.task);
      const { progress, previous } = foldMapItems(st.maps, key, t, e);
      st.compact?.tableFor(key, st.runId, e.state, e.visit, e.task, e.count);
      // A retry that keeps the map's succeeded instances (same item count): only the others start over.
      if (previous && e.keep === true && previous.count === e.count) {
        for (let k = 0; k < e.count; k++) {
          if (taskRecordOf(st, e.state, e.visit, instanceName(e.task, k))?.status === "succeeded") keepInstance(progress, k);
        }
      }
      if (previous) resetInstances(st, previous, progress.kept);
      const vt = visitTask(st, e);
      if (vt && vt.status === "pending") {
        leavePending(st.visit!, vt);
        vt.status = "running";
        if (vt.layout.plan.phase > st.visit!.phase) st.visit!.phase = vt.layout.plan.phase;
      }
      if (e.from === 0 && e.count === 0) {
        t.status = "succeeded";
        t.output = [];
        t.finishedAt = e.at;
        settle(st, e, "succeeded", t.output);
      }
      break;
    }
    case "run.started":
      if (st.models && st.model?.plan.planHash !== e.planHash) {
        // An upgraded run folded with its current plan's model: until its upgrade, the plan it started on.
        st.model = st.models(e.planHash);
        st.machine = st.model ? initialRunSnapshot(st.model.machine) : undefined;
      }
      r.workflow = e.workflow;
      r.version = e.version;
      r.planHash = e.planHash;
      r.options = { schedule: e.options.schedule, onFailure: e.options.onFailure, ...(e.options.priority !== undefined ? { priority: e.options.priority } : {}) };
      r.input = e.input;
      r.startedAt = e.at;
      r.status = "running";
      if (e.seed !== undefined) r.seed = e.seed;
      if (e.parent !== undefined) r.parent = e.parent;
      break;
    case "run.claimed":
      st.owner = e.owner;
      st.epoch = e.epoch;
      break;
    case "run.succeeded":
      r.output = e.output;
      endRun(st, "succeeded", e.at);
      break;
    case "run.failed":
      r.error = e.error;
      endRun(st, "failed", e.at);
      break;
    case "run.cancelled":
      r.reason = e.reason;
      endRun(st, "cancelled", e.at);
      break;
    case "run.retried":
      reopen(st, e);
      break;
    case "run.upgraded":
      upgraded(st, e);
      break;
    case "state.entered": {
      const s: StateRecord = { name: e.state, visit: e.visit, status: "running", enteredAt: e.at, input: e.input };
      st.states.set(stateKey(e.state, e.visit), s);
      r.states.push(s);
      r.currentState = e.state;
      st.entries[e.state] = (st.entries[e.state] ?? 0) + 1;
      if (st.model && st.machine) st.machine = stepRunMachine(st.model.machine, st.machine, { type: "enter", state: e.state });
      st.visit = openVisit(st, e.state, e.visit, e.input);
      break;
    }
    case "state.exited": {
      const s = st.states.get(stateKey(e.state, e.visit));
      if (s) {
        s.status = "succeeded";
        s.exitedAt = e.at;
        s.output = e.output;
        s.next = e.next;
      }
      if (st.visit?.state === e.state && st.visit.visit === e.visit) st.visit = undefined;
      break;
    }
    case "task.dispatched": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.executor = e.executor;
      t.status = "dispatched";
      t.attempts = Math.max(t.attempts, e.attempt);
      t.dispatchId = e.dispatchId;
      delete t.dueAt;
      delete t.redeliveries;
      st.attempts.set(e.dispatchId, { task: t, dispatchId: e.dispatchId, attempt: e.attempt, tokenHash: e.tokenHash, judged: e.judged, deadline: e.deadline, dispatchedAt: e.at, startBy: e.startBy });
      markVisitTask(st, e, "dispatched");
      break;
    }
    case "task.retrying": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "retrying";
      t.dueAt = e.dueAt;
      t.error = e.error;
      delete t.wait;
      const vt = visitTask(st, e);
      if (vt) {
        leavePending(st.visit!, vt);
        vt.status = "retrying";
        if (e.error.code === "ATTEMPT_LOST") vt.lost++;
      }
      break;
    }
    case "task.succeeded": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "succeeded";
      t.output = e.output;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.error;
      delete t.dueAt;
      settle(st, e, "succeeded", e.output);
      break;
    }
    case "task.failed": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "failed";
      t.error = e.error;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.dueAt;
      delete t.wait;
      settle(st, e, "failed");
      break;
    }
    case "task.skipped":
    case "task.cancelled": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      const status = e.type === "task.skipped" ? "skipped" : "cancelled";
      t.status = status;
      t.reason = e.reason;
      t.finishedAt = e.at;
      delete t.dueAt;
      delete t.wait;
      settle(st, e, status);
      break;
    }
    case "task.waiting": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "running";
      t.attempts = Math.max(t.attempts, e.attempt);
      t.wait = e.wait;
      if (e.wait.kind === "child") t.child = e.wait.runId;
      t.startedAt ??= e.at;
      delete t.dueAt;
      markVisitTask(st, e, "running");
      break;
    }
    case "task.waited": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "succeeded";
      t.output = e.output;
      t.startedAt ??= e.at;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.wait;
      delete t.error;
      delete t.dueAt;
      if (e.signal !== undefined) {
        const i = st.signals.findIndex((s) => s.seq === e.signal);
        if (i >= 0) st.signals.splice(i, 1)[0]!.record.consumedBy = t.id;
      }
      settle(st, e, "succeeded", e.output);
      break;
    }
    case "signal.received": {
      if (e.seq > st.through) st.through = e.seq;
      // A repeated id is applied once; a finished run takes no more signals.
      if (st.signalIds.has(e.id) || isFinished(st)) {
        st.refused++;
        break;
      }
      st.signalIds.add(e.id);
      const record: SignalRecord = { name: e.name, id: e.id, at: e.at, seq: e.seq };
      (r.signals ??= []).push(record);
      st.signals.push({ seq: e.seq, name: e.name, payload: e.payload, record });
      break;
    }
    case "child.ended": {
      if (e.seq > st.through) st.through = e.seq;
      // The first end of a child counts; a repeat (stored again after a takeover) changes nothing.
      if (st.childEnds.has(e.child)) break;
      st.childEnds.set(e.child, { seq: e.seq, status: e.status, output: e.output, error: e.error });
      break;
    }
    case "attempt.succeeded":
    case "attempt.failed": {
      if (e.seq > st.through) st.through = e.seq;
      const a = currentAttempt(st, e);
      if (!a) {
        st.refused++;
        break;
      }
      const t = a.task;
      t.workerId = e.workerId;
      t.durationMs = e.durationMs;
      if (e.startedAt !== undefined) t.startedAt ??= e.startedAt;
      if (e.type === "attempt.failed") {
        st.verdicts.set(a.dispatchId, { kind: "failed", attempt: a, error: e.error });
      } else if (a.judged) {
        st.verdicts.set(a.dispatchId, { kind: "succeeded", attempt: a, output: e.output });
      } else {
        st.attempts.delete(a.dispatchId);
        t.status = "succeeded";
        t.output = e.output;
        t.finishedAt = e.at;
        delete t.error;
        settle(st, t, "succeeded", e.output);
      }
      break;
    }
  }
  return st;
}

/**
 * Show a live signal (an attempt started, its progress, a heartbeat) on the record.
 * Not history: it changes nothing the decider reads, and a fold of the stored history
 * does not have it. Returns false when the signal is for no current attempt.
 * @example transport.subscribeLive(runId, (s) => applyLive(state, s));
 */
export function applyLive(st: RunState, signal: LiveSignal): boolean {
  const a = st.attempts.get(signal.dispatchId);
  if (!a || st.verdicts.has(signal.dispatchId)) return false;
  const t = a.task;
  if (signal.type === "attempt.started") {
    // Redeliveries are what the worker's delivery count says: the same signal seen twice (two
    // subscriptions, a replay after a cancel) is not a second delivery.
    if (signal.delivery !== undefined) {
      if (signal.delivery > 1) t.redeliveries = Math.max(t.redeliveries ?? 0, signal.delivery - 1);
    } else if (t.status === "running" && t.workerId !== undefined && t.workerId !== signal.workerId) {
      // A worker that does not send its delivery count: a start on another worker is a redelivery.
      t.redeliveries = (t.redeliveries ?? 0) + 1;
    }
  }
  if (t.status === "dispatched") t.status = "running";
  t.workerId = signal.workerId;
  t.startedAt ??= signal.startedAt ?? signal.at;
  if (signal.type === "attempt.progress") t.progress = signal.total === undefined ? { done: signal.done } : { done: signal.done, total: signal.total };
  return true;
}
