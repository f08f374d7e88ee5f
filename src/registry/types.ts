/**
 * What an executor sees. Kept here, in the pure core, so that executor modules and
 * workflow definitions type-check without importing the runtime or a logger library;
 * the worker fills it in. `Logger` is the structural subset of pino we rely on.
 */
import type { ZodType } from "zod";

export interface LogFn {
  (msg: string): void;
  (obj: object, msg?: string): void;
}

export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** Where a map instance stands in its map: item `index` of `count`. */
export interface MapItemInfo {
  readonly index: number;
  readonly count: number;
}

/** What an executor gets besides its input; `P` types `ctx.params` (see `TaskParams<typeof task>`). */
export interface TaskContext<P = unknown> {
  readonly runId: string;
  /** `state/task`. */
  readonly taskId: string;
  readonly state: string;
  readonly task: string;
  /** Which entry into the state this is (1 on first entry, 2 after a loop back, ...). */
  readonly visit: number;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Fires on timeout, on cancel and on fail-fast; long executors should honour it. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Parents' outputs keyed by task name. */
  readonly parents: Readonly<Record<string, unknown>>;
  /** Stable across redeliveries and retries of this task in this run visit: use it for side effects. */
  readonly idempotencyKey: string;
  /** The task's static `params` option (undefined when it has none). */
  readonly params: P;
  /**
   * A 32-bit unsigned integer from the run's seed, the task id and the instance index:
   * the same on every retry, redelivery and re-run of this run, embedded or on a fleet.
   * Seed your random generator with it for reproducible runs.
   */
  readonly seed: number;
  /** For a map instance: its item's index and the map's item count; undefined for a plain task. */
  readonly item: MapItemInfo | undefined;
  /** Report progress; shown by `phaseflow run` and stored in the run history. */
  progress(done: number, total?: number): void;
  /** Tell the transport the attempt is alive (NATS: extends the ack deadline). */
  heartbeat(): void;
}

export type ExecutorFn<I = unknown, O = unknown, P = unknown> = (input: I, ctx: TaskContext<P>) => O | Promise<O>;

export interface ExecutorOptions<I = unknown, O = unknown> {
  input?: ZodType<I>;
  output?: ZodType<O>;
  description?: string;
}

export interface ExecutorEntry {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly fn: ExecutorFn<unknown, unknown>;
  readonly input?: ZodType | undefined;
  readonly output?: ZodType | undefined;
  readonly description?: string | undefined;
}
