/**
 * Retry policy, decided by the coordinator from the plan (workers run one attempt
 * and report). Pure functions, so the numbers are unit-tested without a clock.
 *
 * Backoff is exponential with "equal jitter" (half fixed, half random), so retries
 * of many tasks that failed together spread out but never come back sooner than half
 * the nominal delay:
 *
 *   base  = min(maxMs, initialMs * factor ^ (attempt - 1))
 *   delay = round(base / 2 + random() * base / 2)
 *
 * where `attempt` is the attempt that just failed (1 for the first retry) and
 * `random()` is in [0, 1) — injected, so tests fix it.
 */
import type { SerializedError } from "../../errors/serialize.js";
import type { Backoff, PlanTask } from "../../plan/schema.js";
import type { RandomSource } from "../../support/clock.js";

/**
 * Delay before the attempt after `attempt`, in ms.
 * @example
 * backoffDelay({ initialMs: 1000, maxMs: 30_000, factor: 2 }, 2, () => 0.5); // base 2000 -> 1500
 */
export function backoffDelay(backoff: Backoff, attempt: number, random: RandomSource): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, attempt - 1));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(base / 2 + (r * base) / 2);
}

/** Total attempts a task may get: its retries plus the first. */
export function maxAttempts(task: Pick<PlanTask, "retries">): number {
  return task.retries + 1;
}

export type AttemptVerdict = { kind: "retry"; delayMs: number; nextAttempt: number } | { kind: "fail" };

/**
 * What to do after attempt `attempt` of `task` failed with `error`: retry after a
 * backoff, or fail the task (error not retryable, or attempts used up).
 * @example
 * decideAfterFailure(task, 1, serializeError(new Error("flaky")), Math.random);
 * // { kind: "retry", delayMs: 734, nextAttempt: 2 } when task.retries >= 1
 */
export function decideAfterFailure(task: Pick<PlanTask, "retries" | "backoff">, attempt: number, error: Pick<SerializedError, "retryable">, random: RandomSource): AttemptVerdict {
  if (!error.retryable || attempt >= maxAttempts(task)) return { kind: "fail" };
  return { kind: "retry", delayMs: backoffDelay(task.backoff, attempt, random), nextAttempt: attempt + 1 };
}
