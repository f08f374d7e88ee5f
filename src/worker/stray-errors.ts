/**
 * Executors that throw from a timer, or leave a promise rejected with nobody
 * listening, would kill a worker process (Node's default for both). A worker
 * process installs this guard instead (`guardStrayErrors`, done by
 * `startNatsWorker`): each executor runs inside an AsyncLocalStorage scope naming
 * its attempt, and Node runs `uncaughtException` and `unhandledRejection` handlers
 * in the async context the error came from, so a stray error is traced to the
 * attempt whose code raised it. That attempt fails at once with
 * `EXECUTOR_STRAY_ERROR` (its signal fires, its slot frees); an error that belongs
 * to no running attempt (one already settled, or code outside every executor) is
 * logged, and the worker keeps serving either way.
 *
 * The scope costs something (promise hooks) only once a guard is installed: an
 * embedded run in the user's own process is left as Node would run it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { PhaseflowError } from "../errors/base.js";
import { describeValue } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";

/** What the guard needs from an attempt. */
export interface StrayTarget {
  readonly taskId: string;
  /** Log fields naming the attempt. */
  describe(): Record<string, unknown>;
  /** Fail the attempt with `error`; false when it had already settled. */
  strayFailure(error: PhaseflowError): boolean;
}

export class ExecutorStrayError extends PhaseflowError {
  constructor(taskId: string, kind: StrayKind, thrown: unknown) {
    const what = kind === "uncaughtException" ? "threw outside its call (from a timer or callback)" : "left a promise rejected with no handler";
    super("EXECUTOR_STRAY_ERROR", `the executor of task "${taskId}" ${what}: ${describeValue(messageOf(thrown)).slice(0, 2000)}; await every promise and catch errors inside callbacks`, { cause: thrown });
  }
}

export type StrayKind = "uncaughtException" | "unhandledRejection";

function messageOf(thrown: unknown): unknown {
  try {
    return thrown instanceof Error ? thrown.message : thrown;
  } catch {
    return thrown;
  }
}

let scope: AsyncLocalStorage<StrayTarget> | undefined;
const loggers = new Set<Logger>();
let counts = { attributed: 0, unattributed: 0 };

/** Run `fn` in the attempt's scope when a guard is installed (else just run it). */
export function inAttemptScope<T>(target: StrayTarget, fn: () => T): T {
  return scope === undefined ? fn() : scope.run(target, fn);
}

function onStray(kind: StrayKind, thrown: unknown): void {
  const target = scope?.getStore();
  const err = thrown instanceof Error ? thrown : describeValue(thrown);
  if (target !== undefined) {
    const failed = target.strayFailure(new ExecutorStrayError(target.taskId, kind, thrown));
    counts.attributed++;
    for (const log of loggers) {
      log.error({ err, kind, ...target.describe(), attemptFailed: failed }, failed ? `stray error of an executor (${kind}); its attempt fails, the worker keeps serving` : `stray error of an executor whose attempt already settled (${kind}); the worker keeps serving`);
    }
    return;
  }
  counts.unattributed++;
  for (const log of loggers) log.error({ err, kind }, `stray error outside any attempt (${kind}); logged, the worker keeps serving`);
}

const onException = (err: unknown): void => onStray("uncaughtException", err);
const onRejection = (reason: unknown): void => onStray("unhandledRejection", reason);

/**
 * Install the process-wide handlers (once per process, however many workers) and log
 * stray errors to `logger`. Returns the function that removes this logger (and the
 * handlers, with the last one).
 *
 * @example
 * const unguard = guardStrayErrors(logger);
 * // ... worker runs
 * unguard();
 */
export function guardStrayErrors(logger: Logger): () => void {
  if (loggers.size === 0) {
    scope ??= new AsyncLocalStorage<StrayTarget>();
    process.on("uncaughtException", onException);
    process.on("unhandledRejection", onRejection);
  }
  loggers.add(logger);
  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    loggers.delete(logger);
    if (loggers.size === 0) {
      process.off("uncaughtException", onException);
      process.off("unhandledRejection", onRejection);
    }
  };
}

/** Stray errors seen since the process started: traced to an attempt, or not. */
export function strayErrorCounts(): { attributed: number; unattributed: number } {
  return { ...counts };
}

/** For tests: forget the counts. */
export function resetStrayErrorCounts(): void {
  counts = { attributed: 0, unattributed: 0 };
}
