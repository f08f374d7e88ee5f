/**
 * One run state, one fold: `evolve(state, event)` is the only definition of where a
 * run stands. The live coordinator, resume after a crash, `retry`, the KV summary,
 * `status`, the CLI follower and the web view all fold a run's history with it
 * (history.ts orders the stored messages first); nothing else keeps a copy of it.
 *
 * The state (fold/state.ts) holds the public run record (what `handle.result()`
 * returns) and, when folded with a model (run-model.ts), the bookkeeping the decider
 * needs for the state visit under way (fold/visit.ts): each task's status, open counts
 * per phase, outputs so far, and parents still awaited — all O(1) per event, so a
 * 10,000-task phase costs O(10,000) however its reports interleave.
 *
 * This file is the dispatcher: each family of events is folded in its own module under
 * fold/ — the run's and its states' lifecycle (run.ts), a task's decisions (tasks.ts),
 * what is heard of an attempt and the token check of reports (attempts.ts), map nodes
 * and their instances (maps.ts), waits, signals and child ends (waits.ts). A new event
 * type gets its case here (the switch is exhaustive) and its fold in its family.
 *
 * evolve updates the state in place and returns it: a state belongs to one fold.
 */
import type { LiveSignal, RunEvent } from "../../transport/messages.js";
import { parseInstance } from "./map-state.js";
import type { FoldedEvent, RunState } from "./fold/state.js";
import { foldLifecycleEvent } from "./fold/run.js";
import { foldTaskEvent } from "./fold/tasks.js";
import { foldAttemptEvent, foldLiveSignal } from "./fold/attempts.js";
import { foldInstanceEvent, foldMapItemsEvent } from "./fold/maps.js";
import { foldWaitEvent } from "./fold/waits.js";

export {
  createRunState,
  isFinished,
  isOpenStatus,
  taskKey,
  taskRecordOf,
  tokenHashOf,
  type AttemptInfo,
  type ChildEnd,
  type DeciderNote,
  type FoldedEvent,
  type PendingSignal,
  type PendingVerdict,
  type RunState,
  type RunStateOptions,
  type Visit,
  type VisitTask,
} from "./fold/state.js";
export { liveSignalApplies } from "./fold/attempts.js";

/**
 * Apply one event of a run's history to its state, in place; returns the same state.
 * A live signal heard of an attempt (not history) is folded here too, shown on the record
 * (`liveSignalApplies` says whether it will be): evolve is the one writer of run state.
 * @example
 * const state = createRunState(runId, model);
 * for (const e of historyEvents(messages)) evolve(state, e);
 * transport.subscribeLive(runId, (signal) => evolve(state, signal));
 */
export function evolve(st: RunState, e: FoldedEvent | LiveSignal): RunState {
  if (isLive(e)) {
    foldLiveSignal(st, e);
    return st;
  }
  if (!("task" in e) || e.type === "map.items") return evolveOne(st, e);
  const inst = parseInstance(e.task);
  if (inst) foldInstanceEvent(st, e, inst, evolveOne);
  else evolveOne(st, e);
  return st;
}

/** Fold `events` into `state`, in order. */
export function foldEvents(state: RunState, events: Iterable<RunEvent>): RunState {
  for (const e of events) evolve(state, e);
  return state;
}

function isLive(e: FoldedEvent | LiveSignal): e is LiveSignal {
  return e.type === "attempt.started" || e.type === "attempt.progress" || e.type === "attempt.heartbeat";
}

function evolveOne(st: RunState, e: FoldedEvent): RunState {
  switch (e.type) {
    case "through":
      break;
    case "run.started":
    case "run.claimed":
    case "run.succeeded":
    case "run.failed":
    case "run.cancelled":
    case "run.retried":
    case "run.upgraded":
    case "state.entered":
    case "state.exited":
      foldLifecycleEvent(st, e);
      break;
    case "task.dispatched":
    case "task.retrying":
    case "task.succeeded":
    case "task.failed":
    case "task.skipped":
    case "task.cancelled":
      foldTaskEvent(st, e);
      break;
    case "attempt.token":
    case "attempt.start":
    case "attempt.succeeded":
    case "attempt.failed":
      foldAttemptEvent(st, e);
      break;
    case "map.items":
      foldMapItemsEvent(st, e);
      break;
    case "task.waiting":
    case "task.waited":
    case "signal.received":
    case "child.ended":
      foldWaitEvent(st, e);
      break;
    default: {
      // Every event type has its family: a new one that has none fails to compile here.
      const unhandled: never = e;
      void unhandled;
    }
  }
  return st;
}
