/** Errors raised about an executor's own code (as opposed to the error it threw). */
import { PhaseflowError } from "./base.js";
import { describeValue } from "./describe.js";

/** How an executor's error escaped its call. */
export type StrayKind = "uncaughtException" | "unhandledRejection";

/** An executor threw from a timer or callback, or left a promise rejected: its attempt fails with this. */
export class ExecutorStrayError extends PhaseflowError {
  constructor(taskId: string, kind: StrayKind, thrown: unknown) {
    const what = kind === "uncaughtException" ? "threw outside its call (from a timer or callback)" : "left a promise rejected with no handler";
    super("EXECUTOR_STRAY_ERROR", `the executor of task "${taskId}" ${what}: ${describeValue(messageOf(thrown)).slice(0, 2000)}; await every promise and catch errors inside callbacks`, { cause: thrown });
  }
}

function messageOf(thrown: unknown): unknown {
  try {
    return thrown instanceof Error ? thrown.message : thrown;
  } catch {
    return thrown;
  }
}
