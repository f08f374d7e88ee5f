/**
 * What a workflow declares about starting itself: schedules (cron or a fixed period)
 * and polling sources (an executor asked every period for work items, each item
 * starting one run under its key). Only the declaration lives here; the rules are
 * in `src/triggers/` and the coordinators serve them (`src/fleet/trigger-service.ts`).
 */
/** `namespace/name` (the same as ExecutorKey in workflow.ts, which imports this module). */
type ExecutorKey = `${string}/${string}`;

/** What to do with ticks that came due while no coordinator served the schedule. */
export type CatchUp = "skip" | "latest" | "all";

interface ScheduleCommon<TInput> {
  /** Names the schedule in run ids, keys and `phaseflow schedules`. Default `s<index>` (its place in `schedules`). Letters, digits, `_`, `-`. */
  name?: string;
  /** The input of every run it starts; checked against the workflow's input schema at compile time. Default: `{}` when the workflow has an input schema (its defaults apply), else none. */
  input?: TInput;
  /**
   * Ticks missed while no coordinator was up: `"skip"` drops them, `"latest"` (default)
   * starts one run for the most recent, `"all"` starts one per missed tick, oldest first
   * (at most 1000 per catch-up).
   */
  catchUp?: CatchUp;
}

export interface CronSchedule<TInput = unknown> extends ScheduleCommon<TInput> {
  /** A cron expression (5 fields, or 6 with seconds first), e.g. `"0 2 * * *"`: 02:00 every day. */
  cron: string;
  /** IANA time zone the cron expression is read in, e.g. `"Europe/Berlin"`. Default UTC. */
  timezone?: string;
}

export interface EverySchedule<TInput = unknown> extends ScheduleCommon<TInput> {
  /** A period: `"15m"`, `"60s"`, `"1h"`, `"1d"`, `"500ms"` (at least 1 s). Ticks are aligned to multiples of it since the Unix epoch (UTC). */
  every: string;
}

export type ScheduleOptions<TInput = unknown> = CronSchedule<TInput> | EverySchedule<TInput>;

export interface SourceOptions {
  /** Names the source in keys and logs. Default `src<index>`. Letters, digits, `_`, `-`. */
  name?: string;
  /** How often to poll (as for schedules: `"60s"`, `"5m"`). A pass that took longer than this is followed by the next at once. */
  every: string;
  /**
   * The executor that lists the work: it gets `{ source, tick }` as input and returns
   * `[{ key, input }]`. Each key not started before starts one run with its input.
   */
  executor: ExecutorKey;
  /** Most runs one pass starts; the rest start on later passes. Default 100. */
  batch?: number;
  /** Limit of one pass's executor attempt, in ms. Default: the period. */
  timeoutMs?: number;
}
