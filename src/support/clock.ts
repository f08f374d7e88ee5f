/**
 * Time and ids, injected so retries, backoff and timeouts are tested with fake time
 * and deterministic ids rather than sleeps. `systemClock` is the real thing.
 */
import { randomBytes } from "node:crypto";

export type TimerHandle = unknown;

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * Run ids: time-ordered, subject-safe (letters and digits only, no dots), so they
 * sort by start time and can be NATS subject tokens and KV keys.
 */
export type IdGenerator = () => string;

export const defaultIdGenerator: IdGenerator = () =>
  `run_${Date.now().toString(36).padStart(9, "0")}${randomBytes(6).toString("hex")}`;

/** Source of randomness for backoff jitter; inject a fixed one in tests. */
export type RandomSource = () => number;
