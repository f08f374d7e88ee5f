/**
 * What a run state is: the shape `evolve` (run-state.ts) folds a run's history into, a
 * state with nothing folded yet, and the keys and small reads every part of the fold
 * and the decider share. The fold itself is split by event family beside this file
 * (run.ts, tasks.ts, attempts.ts, maps.ts, waits.ts, with visit.ts for the decider's
 * view of the visit under way); run-state.ts dispatches to them.
 */
import type { PayloadView } from "../payload-view.js";
import type { LimitRef } from "../limit-state.js";
import { sha256Hex } from "../../../support/hash.js";
import type { SerializedError } from "../../../errors/serialize.js";
import type { RunEvent } from "../../../transport/messages.js";
import type { StateLayout, TaskLayout } from "../dataflow.js";
import type { RunModel } from "../run-model.js";
import { initialRunSnapshot, type RunMachineSnapshot } from "../run-machine.js";
import type { RunRecord, SignalRecord, StateRecord, TaskRecord, TaskStatus } from "../run-record-schema.js";
import { parseInstance, type MapProgress } from "../map-state.js";
import { CompactInstances } from "../map-instances.js";

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
  /** The task limits it holds once sent (README "Traffic control"). */
  readonly limits?: readonly LimitRef[];
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
  /** Payloads the shell fetches for the decider's user functions (payload-view.ts), given at creation; not folded from events. Undefined: none. */
  readonly payloads?: PayloadView | undefined;
  /** Retry timers that fired while a payload their attempt needs was being fetched: fired again on `resolved` (not folded). */
  readonly deferredTimers: Set<string>;
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
export const stateKey = (state: string, visit: number): string => `${state}\u0000${visit}`;

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
  /** Where the decider reads payloads the shell fetched (a coordinator's payload cache). Default: none. */
  payloads?: PayloadView | undefined;
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
    deferredTimers: new Set(),
    ...(options.payloads !== undefined ? { payloads: options.payloads } : {}),
  };
}

export function isFinished(state: Pick<RunState, "record">): boolean {
  const s = state.record.status;
  return s === "succeeded" || s === "failed" || s === "cancelled";
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
