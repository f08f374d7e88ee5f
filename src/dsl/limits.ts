/**
 * Task-level traffic control as a workflow declares it (README "Traffic control"): how many
 * attempts of a task may run at once, and how many may start per period, per key value,
 * across every run, coordinator and worker. The compiler checks these (validate-limits.ts)
 * and puts their numbers in the plan; the key functions are code and stay with the
 * definition (the coordinator calls them on the task's input).
 */

/** At most `limit` attempts in flight at once, per value of `key`, across every run. */
export interface ConcurrencyLimit<I = unknown> {
  /** Attempts in flight at once per key value: a whole number >= 1. */
  limit: number;
  /** The key value of an attempt from the task's input (e.g. the tenant). Default: one key for every attempt. */
  key?(this: void, input: I): string | number;
  /** Tasks naming the same scope share the limit (e.g. two workflows calling one API). Default: the executor key. */
  scope?: string;
}

/** At most `limit` attempt starts in any window of `periodMs`, per value of `key`, across every run. */
export interface RateLimit<I = unknown> {
  /** Starts per window: a whole number >= 1. */
  limit: number;
  /** The window, in ms (sliding: no burst of 2 × limit across a window's edge). */
  periodMs: number;
  /** The key value of an attempt from the task's input. Default: one key for every attempt. */
  key?(this: void, input: I): string | number;
  /** Tasks naming the same scope share the limit. Default: the executor key. */
  scope?: string;
}
