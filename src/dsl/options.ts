/**
 * The option types of the authoring API (workflow.ts): what a workflow, a state and each
 * kind of node (task, map, signal, sleep, child) may be declared with, and their defaults.
 *
 * Types only, no code, and nothing imported from workflow.ts: a child node's options name
 * the workflow they start by its shape (`ChildTarget`, `InputOf`), so workflow.ts imports
 * these and no import runs back.
 */
import type { ZodType } from "zod";
import type { ConcurrencyLimit, RateLimit } from "./limits.js";
import type { ScheduleOptions, SourceOptions } from "./triggers.js";

/** `namespace/name`, e.g. `"etl/extract"`. */
export type ExecutorKey = `${string}/${string}`;

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialMs: number;
  /** Upper bound of any delay, in ms. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/** A JSON value: what `params` and map items may hold. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface TaskOptions<I = unknown, O = unknown, P = unknown> {
  /** The registry key of the executor that runs this task. */
  executor: ExecutorKey;
  /** Static JSON given to the executor as `ctx.params` (shown by the dry run, part of the plan hash); the compiler rejects what is not JSON. Default: none. */
  params?: P;
  /** Schema of the task's input (the state input for a root task, else the merge of its parents' outputs). */
  input?: ZodType<I>;
  /** Schema of the task's output; a violation fails the task without retry. */
  output?: ZodType<O>;
  /** Further attempts after the first fails. Default 0. */
  retries?: number;
  /** Delay between attempts. Default `{ initialMs: 1000, maxMs: 30000, factor: 2 }`, with jitter. */
  backoff?: BackoffOptions;
  /**
   * Limit per attempt, in ms, of its execution: from the moment a worker starts it (time
   * waiting for a worker or a limit never counts). Default: none.
   */
  timeoutMs?: number;
  /** Longest wait of an attempt from dispatch to its start on a worker, in ms; past it the attempt fails with QUEUE_TIMEOUT (retried per `retries`). Default: none. */
  queueTimeoutMs?: number;
  /** At most `limit` attempts in flight per key value, across every run (README "Traffic control"). Default: no limit. */
  concurrency?: ConcurrencyLimit<I>;
  /** At most `limit` attempt starts per `periodMs` per key value, across every run. Default: no limit. */
  rateLimit?: RateLimit<I>;
  description?: string;
}

/** A signal node (`state.signal`): waits, holding no worker slot, for a signal sent to the run. */
export interface SignalOptions<O = unknown> {
  /** Schema of the payload: a sender whose payload fails it is refused, and nothing changes. Default: any JSON value. */
  schema?: ZodType<O>;
  /** Fail the node with SIGNAL_TIMEOUT when no signal came within this many ms of reaching it (retried per `retries`). Default: no limit. */
  timeoutMs?: number;
  /** On timeout, succeed with `output` instead of failing (e.g. `{ pathway: "expired" }` for a route; it need not match `schema`). Default: fail. */
  onTimeout?: { output: unknown };
  /** The signal's name, when it differs from the node's. Default: the node's name. */
  signal?: string;
  /** Waits again after a timeout this many times. Default 0. */
  retries?: number;
  /** Delay before waiting again after a timeout. Default as for tasks. */
  backoff?: BackoffOptions;
  description?: string;
}

/** A sleep node (`state.sleep`): succeeds, holding no worker slot, once its time has come. Give `ms` or `until`. */
export interface SleepOptions<I = unknown> {
  /** Sleep this long from when the node is reached. */
  ms?: number;
  /** Sleep until this time, computed from the node's input when it is reached. */
  until?: (input: I) => Date | number;
  description?: string;
}

/** A workflow as a child node names it: its handle (any input type), or its name. */
export type ChildTarget = { readonly name: string; readonly version: string; readonly states: readonly unknown[] } | string;

/** The input type of a workflow handle (read from its options' `input` schema type); unknown for a name. */
export type InputOf<W> = W extends { readonly options: { readonly input?: ZodType<infer I> | undefined } } ? I : unknown;

/** A child node (`state.child`): starts a run of another workflow (or this one) and succeeds with its output. */
export interface ChildOptions<W extends ChildTarget, NI = unknown> {
  /** The workflow to run: its handle (checked by the compiler) or its name (looked up where the run is driven). */
  workflow: W;
  /** Pin a version. Default: the handle's version, or by name the latest served. */
  version?: string;
  /** The child's input from the node's input. Default: the node's input as it is. */
  input?: (input: NI) => InputOf<W>;
  /** Start a new child run this many times after one failed. Default 0. */
  retries?: number;
  /** Delay before the next child run. Default as for tasks. */
  backoff?: BackoffOptions;
  description?: string;
}

/** A map over a workflow (`state.map` with `workflow`): one child run per item. */
export interface ChildMapOptions<W extends ChildTarget, MI = unknown> {
  workflow: W;
  version?: string;
  /** The list to fan out over; each item is one child run's input. */
  items: (input: MI) => readonly (InputOf<W>)[];
  /** Child runs in flight at once. Default 100. */
  maxConcurrency?: number;
  /** As for task maps. Default 0. */
  toleratedFailures?: number;
  retries?: number;
  backoff?: BackoffOptions;
  description?: string;
}

export interface MapOptions<I = unknown, O = unknown, MI = unknown, P = unknown> extends Omit<TaskOptions<I, O, P>, "input"> {
  /**
   * The list to fan out over, from the map node's input; evaluated once by the
   * coordinator when the node starts, and recorded in the run's history.
   */
  items: (input: MI) => readonly I[];
  /** Schema of each instance's input (one item). */
  input?: ZodType<I>;
  /** Instances in flight at once, across the fleet. Default 100. */
  maxConcurrency?: number;
  /** Failed instances the map may have and still succeed: a count (0, 1, 2, ...) or a fraction below 1 (`0.05`: 5% of the items, rounded down). Default 0. */
  toleratedFailures?: number;
}


export interface StateOptions<TOut = Record<string, unknown>> {
  /** Start here. Default: the first state declared. */
  initial?: boolean;
  /** A final state ends the run once its tasks finish. A state with no outgoing transition is final anyway. */
  final?: boolean;
  /** How often the state may be entered in one run before the run fails. Default 100. */
  maxVisits?: number;
  /** Schema of the state's output (the merge of its sink tasks' outputs); types `when` guards. */
  output?: ZodType<TOut>;
  description?: string;
}

export interface WorkflowOptions<TInput> {
  version: string;
  /** Schema of the run's input; `engine.run` rejects input that fails it before dispatching anything. */
  input?: ZodType<TInput>;
  description?: string;
  /** Start runs on a clock: `[{ cron: "0 2 * * *" }, { every: "15m", input }]`. Served by the coordinators serving the workflow. Default: none. */
  schedules?: readonly ScheduleOptions<NoInfer<TInput>>[];
  /** Start runs from polled work items: `[{ every: "60s", executor: "ns/list" }]`. Served by the coordinators. Default: none. */
  sources?: readonly SourceOptions[];
  /** The default priority of its runs, 1 (first) to 5 (last): where tasks wait for worker slots, higher priority goes first (README "Traffic control"). Default 3. */
  priority?: number;
  /**
   * Runs in flight per key (README "Traffic control"): at most `limit` runs of this workflow with
   * the same `key(input)` are running at once (`key` omitted: one key for all its runs). Default: no limit.
   * @example concurrency: { limit: 1, key: (input) => input.user, onLimit: "queue" }
   */
  concurrency?: RunConcurrencyOptions<NoInfer<TInput>>;
}

/** What a start does when its key already has `limit` runs in flight. */
export type OnRunLimit = "queue" | "cancel-in-progress" | "drop";

export interface RunConcurrencyOptions<TInput> {
  /** Runs in flight per key; a positive whole number. */
  limit: number;
  /** The key of a run from its input (e.g. the user it works for). Default: one key for every run of the workflow. */
  key?(input: TInput): string;
  /**
   * `"queue"` (default): the run waits, status pending, and starts when one of its key ends, in start order;
   * `"cancel-in-progress"`: the oldest running run of the key is cancelled, then the new one starts;
   * `"drop"`: the start is refused with RunLimitReachedError (code RUN_LIMIT_REACHED).
   */
  onLimit?: OnRunLimit;
}
