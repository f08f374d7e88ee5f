/**
 * The `TaskContext` an executor receives. A small class rather than an object
 * literal so that the logger child and the AbortController are made only when an
 * executor reads `ctx.log` or `ctx.signal` (most never do), which keeps the
 * per-task cost of no-op executors low. Executors
 * may destructure it (`async (input, { signal, progress }) => ...`).
 */
import type { Logger, MapItemInfo, TaskContext } from "../registry/types.js";
import { parseInstance } from "../runtime/core/map-state.js";
import { seedOfRunId, taskSeed } from "../runtime/core/seed.js";
import type { TaskMessage } from "../transport/messages.js";

/** What the context delegates to: the attempt running the executor. */
export interface ContextHost {
  readonly message: TaskMessage;
  readonly taskId: string;
  log(): Logger;
  signal(): AbortSignal;
  progress(done: number, total: number | undefined): void;
  heartbeat(): void;
}

export class AttemptContext implements TaskContext {
  readonly runId: string;
  readonly taskId: string;
  readonly state: string;
  readonly task: string;
  readonly visit: number;
  readonly attempt: number;
  readonly parents: Readonly<Record<string, unknown>>;
  readonly idempotencyKey: string;
  readonly params: unknown;
  readonly seed: number;
  readonly item: MapItemInfo | undefined;

  constructor(private readonly host: ContextHost) {
    const m = host.message;
    this.runId = m.runId;
    this.taskId = host.taskId;
    this.state = m.state;
    this.task = m.task;
    this.visit = m.visit;
    this.attempt = m.attempt;
    this.parents = m.parents;
    this.idempotencyKey = m.idempotencyKey;
    this.params = m.params;
    this.item = m.item;
    // A message from a coordinator that sends no seed: the default a run without one gets.
    this.seed = m.seed ?? fallbackSeed(m.runId, m.state, m.task);
  }

  get signal(): AbortSignal {
    return this.host.signal();
  }

  get log(): Logger {
    return this.host.log();
  }

  /** Arrow properties, so `const { progress } = ctx` keeps working. */
  readonly progress = (done: number, total?: number): void => this.host.progress(done, total);
  readonly heartbeat = (): void => this.host.heartbeat();
}

function fallbackSeed(runId: string, state: string, task: string): number {
  const inst = parseInstance(task);
  return taskSeed(seedOfRunId(runId), `${state}/${inst ? inst.map : task}`, inst?.index);
}
