/**
 * The state runner's per-task bookkeeping (`TaskRun`), and how it starts: all
 * waiting for a fresh visit, or as the run's history left each task for a visit that
 * is picked up again (crash, takeover, partial re-run). Pure: no events, no timers.
 */
import type { SerializedError } from "../errors/serialize.js";
import type { TimerHandle } from "./clock.js";
import type { StateLayout, TaskLayout } from "./coordinator-inputs.js";
import type { StateRestore, TaskSeedStatus } from "./run-recovery.js";

export interface TaskRun {
  readonly layout: TaskLayout;
  status: TaskSeedStatus;
  /** The current (last) attempt; 0 before the first. */
  attempt: number;
  /** The first attempt of this try (1; after a partial re-run, the attempt after the last one). */
  firstAttempt: number;
  dispatchId: string | undefined;
  /** The current attempt's deadline (null: no timeout) and dispatch time. */
  deadline: number | null;
  dispatchedAt: number;
  /** While retrying (restored): the next attempt and when it is due. */
  nextAttempt: number;
  dueAt: number;
  input: unknown;
  parents: Record<string, unknown>;
  timer: { handle: TimerHandle } | undefined;
  /** Parents not yet succeeded (eager schedule). */
  waitingFor: number;
}

export interface SeededTasks {
  tasks: Map<string, TaskRun>;
  /** Outputs of the tasks that succeeded. */
  outputs: Map<string, unknown>;
  /** Failed tasks, in the order they failed. */
  failures: { task: TaskRun; error: SerializedError }[];
}

/** Whether the task still needs a verdict (waiting, dispatched or retrying). */
export function isOpen(t: Pick<TaskRun, "status">): boolean {
  return t.status === "waiting" || t.status === "dispatched" || t.status === "retrying";
}

const unknownError: SerializedError = { name: "Error", code: "UNKNOWN", message: "the task failed (no error recorded)", retryable: false };

/**
 * The tasks of a visit: all waiting (no `restore`), or as restored.
 * @example
 * const { tasks, outputs } = seedTasks(layoutOf(planState), position.restore);
 */
export function seedTasks(layout: StateLayout, restore: StateRestore | undefined): SeededTasks {
  const tasks = new Map<string, TaskRun>();
  const outputs = new Map<string, unknown>();
  for (const t of layout.tasks) {
    const seed = restore?.tasks.get(t.name);
    tasks.set(t.name, {
      layout: t,
      status: seed?.status ?? "waiting",
      attempt: seed?.attempt ?? 0,
      firstAttempt: seed?.firstAttempt ?? 1,
      dispatchId: seed?.status === "dispatched" ? seed.dispatchId : undefined,
      deadline: seed?.deadline ?? null,
      dispatchedAt: seed?.dispatchedAt ?? 0,
      nextAttempt: seed?.nextAttempt ?? (seed?.attempt ?? 0) + 1,
      dueAt: seed?.dueAt ?? 0,
      input: undefined,
      parents: {},
      timer: undefined,
      waitingFor: 0,
    });
    if (seed?.status === "succeeded") outputs.set(t.name, seed.output);
  }
  for (const t of tasks.values()) t.waitingFor = t.layout.parents.filter((p) => tasks.get(p)?.status !== "succeeded").length;
  const failures = (restore?.failed ?? []).flatMap((name) => {
    const task = tasks.get(name);
    return task?.status === "failed" ? [{ task, error: restore?.tasks.get(name)?.error ?? unknownError }] : [];
  });
  return { tasks, outputs, failures };
}

/**
 * Schedule "phases": the first phase with a task still open, and how many are open
 * in it; past the last phase (nothing open) when every task has its verdict.
 */
export function openPhase(layout: StateLayout, tasks: ReadonlyMap<string, TaskRun>): { phase: number; remaining: number } {
  const phases = layout.state.phases;
  for (let i = 0; i < phases.length; i++) {
    const open = (phases[i] ?? []).filter((n) => {
      const t = tasks.get(n);
      return t !== undefined && isOpen(t);
    }).length;
    if (open > 0) return { phase: i, remaining: open };
  }
  return { phase: phases.length - 1, remaining: 0 };
}
