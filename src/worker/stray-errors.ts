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
 * Cost. On Node 20 (and 22), an enabled AsyncLocalStorage turns on promise hooks for
 * every promise of the process, the transport's own included; left on for the whole
 * life of a worker they cost it 3-44% more CPU per task in bench/guard.ts. So the scope
 * is enabled only while at least one executor call is under way (from the executor's
 * first line until its attempt settles or is released: `openAttemptScope`, `run`,
 * `close`) and disabled when the last one settles; the next `run` enables it again
 * (about 2 µs for the pair). Workers of short executors pay almost nothing; executors
 * that wait on I/O keep the hooks on while they wait, which is what tracing their
 * errors takes. While the scope is off nothing is attributed (no attempt is running,
 * so none can be failed by mistake); the one thing given up is the attempt's ids in the
 * log line of an error raised by an executor's leftover code after its attempt settled,
 * at a moment when no executor runs. Node 24 keeps AsyncLocalStorage in async context
 * frames, with no promise hooks; there the scope is never turned off.
 *
 * The scope costs nothing until a guard is installed: an embedded run in the user's
 * own process is left as Node would run it.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { PhaseflowError } from "../errors/base.js";
import { describeValue } from "../errors/describe.js";
import { ExecutorStrayError, type StrayKind } from "../errors/executor.js";
import type { Logger } from "../registry/types.js";

/** What the guard needs from an attempt. */
export interface StrayTarget {
  readonly taskId: string;
  /** Log fields naming the attempt. */
  describe(): Record<string, unknown>;
  /** Fail the attempt with `error`; false when it had already settled. */
  strayFailure(error: PhaseflowError): boolean;
}

let scope: AsyncLocalStorage<StrayTarget> | undefined;
const loggers = new Set<Logger>();
let counts = { attributed: 0, unattributed: 0 };
/** Executor calls under way in a scope: it is enabled while this is above 0. */
let open = 0;
/** Whether this Node's AsyncLocalStorage runs on promise hooks, worth turning off when idle (Node < 24 without async context frames). */
const hookBased = usesPromiseHooks();

function usesPromiseHooks(): boolean {
  const major = Number(process.versions.node.split(".")[0]);
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  if (major >= 24) return !flags.includes("--no-async-context-frame");
  return !flags.includes("--experimental-async-context-frame");
}

/** One attempt's scope: `run` its executor's call in it, `close` it once the attempt settled (idempotent). */
export interface AttemptScope {
  run<T>(fn: () => T): T;
  close(): void;
}

const NO_SCOPE: AttemptScope = { run: (fn) => fn(), close: () => undefined };

/**
 * The scope of an attempt about to call its executor, when a guard is installed (else
 * one that just runs it). The scope is on, and with it the hooks, from `run` until
 * `close`: close it when the attempt settles, however it settles.
 */
export function openAttemptScope(target: StrayTarget): AttemptScope {
  const s = scope;
  if (s === undefined || loggers.size === 0) return NO_SCOPE;
  let state: "new" | "open" | "closed" = "new";
  return {
    run(fn) {
      if (state === "new") {
        state = "open";
        open++;
      }
      return state === "open" ? s.run(target, fn) : fn();
    },
    close() {
      if (state !== "open") {
        state = "closed";
        return;
      }
      state = "closed";
      open--;
      // The last executor call settled: stop the promise hooks until the next one starts (run() turns them back on).
      if (open === 0 && hookBased) s.disable();
    },
  };
}

/** Whether the scope runs on promise hooks here, and is turned off between executor calls (for tests). */
export function scopeUsesPromiseHooks(): boolean {
  return hookBased;
}

/** Executor calls in a scope right now (for tests). */
export function openAttemptScopes(): number {
  return open;
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
      // No guard left: attempts from now on run unscoped; the scope goes off once the open ones settle.
      if (open === 0 && hookBased) scope?.disable();
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
