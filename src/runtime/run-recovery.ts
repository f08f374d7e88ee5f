/**
 * Where a run stands, read from its history alone: what a coordinator needs to pick
 * a run up after a crash or a takeover (DESIGN "Run history") and what a partial
 * re-run starts from. Pure: events in, a `RecoveryPoint` out.
 *
 * The fold follows the run's position — started, inside a state visit, between two
 * states, ended — and, per state visit, each task's last verdict (task.* events) and
 * any worker report (attempt.succeeded/failed) for its current attempt that no
 * verdict answered yet. A `run.retried` moves the position back to the visit it
 * names, turns the tasks it re-runs back to waiting (their attempt numbers go on)
 * and winds the visit counts that `maxVisits` checks back to that visit's entry.
 */
import type { SerializedError } from "../errors/serialize.js";
import type { AttemptReport, RunEvent, RunEventOf } from "../transport/messages.js";

export type TaskSeedStatus = "waiting" | "dispatched" | "retrying" | "succeeded" | "failed" | "skipped" | "cancelled";

/** One task of a state visit as its history left it. */
export interface TaskSeed {
  status: TaskSeedStatus;
  /** The last attempt dispatched (0: none). */
  attempt: number;
  /** The first attempt of the current try: 1, or the attempt after the last one before a run.retried. */
  firstAttempt: number;
  /** While dispatched: the attempt's dispatch id, deadline and dispatch time. */
  dispatchId?: string;
  deadline?: number | null;
  dispatchedAt?: number;
  /** While retrying: the next attempt and when it is due. */
  nextAttempt?: number;
  dueAt?: number;
  output?: unknown;
  error?: SerializedError;
  reason?: string;
  /** A worker report for the current attempt that no verdict answered yet. */
  report?: RunEventOf<"attempt.succeeded" | "attempt.failed">;
  /** Position of `report` in the history, to judge reports in arrival order. */
  reportAt?: number;
}

/** The state visit a rebuilt run continues inside. */
export interface StateRestore {
  /** Tasks with any event in the visit; the others are waiting. */
  readonly tasks: ReadonlyMap<string, TaskSeed>;
  /** Failed tasks, in the order they failed. */
  readonly failed: readonly string[];
  /** Reports to judge now, in arrival order. */
  readonly reports: readonly AttemptReport[];
  /** A cancel was being carried out (task.cancelled recorded, no failure under fail-fast): its reason. */
  readonly cancel?: string | undefined;
}

export type RecoveryPosition =
  | { kind: "ended"; status: "succeeded" | "failed" | "cancelled"; after: ActivePosition | undefined }
  | { kind: "start" }
  | ActivePosition;

export type ActivePosition =
  | { kind: "in-state"; state: string; visit: number; input: unknown; restore: StateRestore }
  | { kind: "exited"; state: string; visit: number; output: unknown; next: string | null };

export interface RecoveryPoint {
  readonly runId: string;
  readonly started: RunEventOf<"run.started">;
  readonly position: RecoveryPosition;
  /** Number of the latest visit per state. */
  readonly visits: Readonly<Record<string, number>>;
  /** Visits per state that count against maxVisits. */
  readonly entries: Readonly<Record<string, number>>;
  /** run.retried events so far: the run's current go (0 for the first). */
  readonly round: number;
  /** The latest visit of a state, if it was ever entered. */
  lastVisit(state: string): number | undefined;
  /** The tasks of one state visit, as far as the history knows them. */
  visitTasks(state: string, visit: number): ReadonlyMap<string, TaskSeed>;
}

interface VisitFold {
  input: unknown;
  entriesAtEntry: Record<string, number>;
  tasks: Map<string, TaskSeed>;
  failed: string[];
}

const visitKey = (state: string, visit: number): string => `${state}\u0000${visit}`;

/**
 * Read a run's position from its whole history, in order.
 * @returns undefined when the history does not begin with run.started.
 * @example
 * const point = analyzeHistory(await transport.readRunEvents(runId));
 * if (point?.position.kind === "in-state") console.log(point.position.state);
 */
export function analyzeHistory(events: readonly RunEvent[]): RecoveryPoint | undefined {
  const started = events[0];
  if (started?.type !== "run.started") return undefined;
  const failFast = started.options.onFailure === "fail-fast";
  const visits: Record<string, number> = {};
  let entries: Record<string, number> = {};
  const folds = new Map<string, VisitFold>();
  let position = { kind: "start" } as RecoveryPosition;
  let active: { state: string; visit: number } | undefined;
  let round = 0;

  const seedOf = (fold: VisitFold, task: string): TaskSeed => {
    let seed = fold.tasks.get(task);
    if (!seed) fold.tasks.set(task, (seed = { status: "waiting", attempt: 0, firstAttempt: 1 }));
    return seed;
  };
  const verdict = (seed: TaskSeed, status: TaskSeedStatus): void => {
    seed.status = status;
    delete seed.report;
    delete seed.reportAt;
  };

  for (let at = 0; at < events.length; at++) {
    const e = events[at]!;
    const fold = "state" in e && "visit" in e ? folds.get(visitKey(e.state, e.visit)) : undefined;
    switch (e.type) {
      case "state.entered": {
        visits[e.state] = Math.max(visits[e.state] ?? 0, e.visit);
        entries = { ...entries, [e.state]: (entries[e.state] ?? 0) + 1 };
        folds.set(visitKey(e.state, e.visit), { input: e.input, entriesAtEntry: entries, tasks: new Map(), failed: [] });
        active = { state: e.state, visit: e.visit };
        position = { kind: "in-state", state: e.state, visit: e.visit, input: e.input, restore: { tasks: new Map(), failed: [], reports: [] } };
        break;
      }
      case "state.exited":
        position = { kind: "exited", state: e.state, visit: e.visit, output: e.output, next: e.next };
        active = undefined;
        break;
      case "run.retried": {
        round += 1;
        if (!fold) break;
        entries = fold.entriesAtEntry;
        for (const name of e.tasks) {
          const old = fold.tasks.get(name);
          const attempt = old?.attempt ?? 0;
          fold.tasks.set(name, { status: "waiting", attempt, firstAttempt: attempt + 1 });
        }
        const rerun = new Set(e.tasks);
        fold.failed = fold.failed.filter((name) => !rerun.has(name));
        active = { state: e.state, visit: e.visit };
        position = { kind: "in-state", state: e.state, visit: e.visit, input: fold.input, restore: { tasks: new Map(), failed: [], reports: [] } };
        break;
      }
      case "run.succeeded":
      case "run.failed":
      case "run.cancelled": {
        const after = position.kind === "in-state" || position.kind === "exited" ? position : undefined;
        position = { kind: "ended", status: e.type === "run.succeeded" ? "succeeded" : e.type === "run.failed" ? "failed" : "cancelled", after };
        active = undefined;
        break;
      }
      case "task.dispatched": {
        if (!fold) break;
        const seed = seedOf(fold, e.task);
        verdict(seed, "dispatched");
        seed.attempt = Math.max(seed.attempt, e.attempt);
        seed.dispatchId = e.dispatchId;
        seed.deadline = e.deadline;
        seed.dispatchedAt = e.at;
        break;
      }
      case "task.retrying": {
        if (!fold) break;
        const seed = seedOf(fold, e.task);
        verdict(seed, "retrying");
        seed.nextAttempt = e.nextAttempt;
        seed.dueAt = e.dueAt;
        seed.error = e.error;
        break;
      }
      case "task.succeeded": {
        if (!fold) break;
        const seed = seedOf(fold, e.task);
        verdict(seed, "succeeded");
        seed.attempt = Math.max(seed.attempt, e.attempt);
        seed.output = e.output;
        break;
      }
      case "task.failed": {
        if (!fold) break;
        const seed = seedOf(fold, e.task);
        verdict(seed, "failed");
        seed.attempt = Math.max(seed.attempt, e.attempt);
        seed.error = e.error;
        if (!fold.failed.includes(e.task)) fold.failed.push(e.task);
        break;
      }
      case "task.skipped":
      case "task.cancelled": {
        if (!fold) break;
        const seed = seedOf(fold, e.task);
        verdict(seed, e.type === "task.skipped" ? "skipped" : "cancelled");
        seed.reason = e.reason;
        break;
      }
      case "attempt.succeeded":
      case "attempt.failed": {
        const seed = fold?.tasks.get(e.task);
        if (seed && seed.status === "dispatched" && seed.dispatchId === e.dispatchId && seed.report === undefined) {
          seed.report = e;
          seed.reportAt = at;
        }
        break;
      }
      default:
        break;
    }
  }

  if (position.kind === "in-state" && active) {
    const fold = folds.get(visitKey(active.state, active.visit))!;
    position = { ...position, restore: restoreOf(fold, failFast) };
  }
  const point: RecoveryPoint = {
    runId: started.runId,
    started,
    position,
    visits,
    entries,
    round,
    lastVisit: (state) => visits[state],
    visitTasks: (state, visit) => folds.get(visitKey(state, visit))?.tasks ?? new Map<string, TaskSeed>(),
  };
  return point;
}

function restoreOf(fold: VisitFold, failFast: boolean): StateRestore {
  const reports = [...fold.tasks.values()]
    .filter((s): s is TaskSeed & { report: NonNullable<TaskSeed["report"]> } => s.status === "dispatched" && s.report !== undefined)
    .sort((a, b) => (a.reportAt ?? 0) - (b.reportAt ?? 0))
    .map((s) => s.report);
  const cancelled = [...fold.tasks.values()].find((s) => s.status === "cancelled");
  const cancel = cancelled && !(failFast && fold.failed.length > 0) ? (cancelled.reason ?? "cancelled") : undefined;
  return { tasks: fold.tasks, failed: fold.failed, reports, cancel };
}

/**
 * Events a rebuilt run has not seen: those `stored` beyond the `known` first ones
 * (published while no coordinator listened), then those that arrived `live` while the
 * history was re-read and are not among them (matched by content, as neither side
 * carries a sequence number).
 * @example eventsAfter(given.length, await transport.readRunEvents(runId), buffered)
 */
export function eventsAfter(known: number, stored: readonly RunEvent[], live: readonly RunEvent[]): RunEvent[] {
  const extra = stored.slice(known);
  const pending = new Map<string, number>();
  for (const e of extra) {
    const key = JSON.stringify(e);
    pending.set(key, (pending.get(key) ?? 0) + 1);
  }
  for (const e of live) {
    const key = JSON.stringify(e);
    const count = pending.get(key) ?? 0;
    if (count > 0) pending.set(key, count - 1);
    else extra.push(e);
  }
  return extra;
}
