/**
 * Runs in flight per key, embedded (README "Traffic control"): a workflow's
 * `concurrency: { limit, key?, onLimit }` holds at most `limit` runs of one key value at
 * once. Over the limit, `"queue"` hands back a handle of a pending run that starts when
 * one of its key ends, priority first, then in start order (its record's `waitingFor` says so);
 * `"cancel-in-progress"` cancels the oldest running run of the key, waits for its end,
 * then starts the new one (so never more than `limit` run at once); `"drop"` refuses the
 * start with RunLimitReachedError. Admissions of one key are serialized, so two starts
 * never both take the last place.
 */
import type { OnRunLimit, Workflow } from "../dsl/workflow.js";
import { UsageError } from "../errors/base.js";
import { RunLimitReachedError } from "../errors/limits.js";
import type { RunRecord, RunSummary } from "../runtime/core/run-record-schema.js";
import type { RunHandle } from "../runtime/shell/run-handle.js";
import type { RunEvent, RunUpdate } from "../transport/messages.js";

/** The key of a run of `wf` from its input; "" when the workflow's concurrency has no key. */
export function runLimitKey(wf: Workflow<unknown>, input: unknown): string {
  const c = wf.options.concurrency;
  if (c?.key === undefined) return "";
  const value: unknown = c.key(input);
  if (typeof value !== "string" && typeof value !== "number") {
    throw new UsageError(`workflow "${wf.name}": concurrency.key returned ${JSON.stringify(value) ?? String(value)} for this input; return a string (e.g. input.user)`);
  }
  return String(value);
}

interface Group {
  /** Runs of the key in flight, oldest first. */
  running: RunHandle[];
  /** Starts waiting for a place, in start order. */
  queued: QueuedRun[];
  /** Admissions of this key, one after another. */
  lock: Promise<unknown>;
}

/**
 * The gate of one engine.
 *
 * @example
 * const gate = new RunGate();
 * const handle = await gate.admit(wf, input, runId, () => coordinator.start({ ... }));
 */
export class RunGate {
  private readonly groups = new Map<string, Group>();
  /** Runs waiting for a place, by run id (their records answer `engine.get` until they start). */
  private readonly queuedById = new Map<string, QueuedRun>();

  /** The record of a run waiting for a place (status pending, `waitingFor` saying what for); undefined once it started or was never queued. */
  queued(runId: string): RunRecord | undefined {
    return this.queuedById.get(runId)?.status();
  }

  /** Start a run through its workflow's limit (`start` starts it; `runId` is the id it will get). */
  admit(wf: Workflow<unknown>, input: unknown, runId: string, planHash: string, priority: number, start: () => RunHandle): Promise<RunHandle> {
    const c = wf.options.concurrency;
    if (c === undefined) return Promise.resolve(start());
    const key = runLimitKey(wf, input);
    const id = `${wf.name}\u0000${key}`;
    let group = this.groups.get(id);
    if (!group) {
      group = { running: [], queued: [], lock: Promise.resolve() };
      this.groups.set(id, group);
    }
    const g = group;
    const onLimit: OnRunLimit = c.onLimit ?? "queue";
    const label = key === "" ? wf.name : `${wf.name}[${key}]`;
    const launch = (): RunHandle => {
      const handle = start();
      g.running.push(handle);
      const ended = (): void => {
        g.running = g.running.filter((h) => h !== handle);
        this.next(g, c.limit);
        if (g.running.length === 0 && g.queued.length === 0) this.groups.delete(id);
      };
      handle.result().then(ended, ended);
      return handle;
    };
    const admitted = g.lock.then(async (): Promise<RunHandle> => {
      if (g.running.length < c.limit && g.queued.length === 0) return launch();
      if (onLimit === "drop") throw new RunLimitReachedError(wf.name, key, c.limit);
      if (onLimit === "cancel-in-progress") {
        while (g.running.length >= c.limit) {
          const oldest = g.running[0]!;
          await oldest.cancel(`cancelled by run ${runId}: workflow "${wf.name}" allows ${c.limit} run(s) in flight for key "${key}" (concurrency.onLimit "cancel-in-progress")`);
          await oldest.result().catch(() => undefined);
          g.running = g.running.filter((h) => h !== oldest);
        }
        return launch();
      }
      const queued: QueuedRun = new QueuedRun(
        runId,
        wf,
        planHash,
        priority,
        (): string => `queued: workflow limit ${label} ${g.running.length}/${c.limit} in use, ${g.queued.indexOf(queued)} queued ahead`,
        () => {
          this.queuedById.delete(runId);
          return launch();
        },
        () => {
          this.queuedById.delete(runId);
          g.queued = g.queued.filter((q) => q !== queued);
        },
      );
      this.queuedById.set(runId, queued);
      // Priority 1 first, then start order.
      const after = g.queued.findIndex((q) => q.priority > priority);
      if (after < 0) g.queued.push(queued);
      else g.queued.splice(after, 0, queued);
      return queued;
    });
    g.lock = admitted.catch(() => undefined);
    return admitted;
  }

  /** Start queued runs while the key has room. */
  private next(g: Group, limit: number): void {
    while (g.running.length < limit) {
      const q = g.queued.shift();
      if (!q) return;
      q.begin();
    }
  }
}

/** A run waiting for its key's place: a handle now, the real run's handle once it started. */
class QueuedRun implements RunHandle {
  private inner: RunHandle | undefined;
  private cancelled: RunRecord | undefined;
  private readonly startedOrCancelled: Promise<RunHandle | undefined>;
  private settle!: (h: RunHandle | undefined) => void;
  /** Listeners added while queued, and how to take each off the run once it started. */
  private readonly listeners = new Map<(event: RunEvent) => void, (() => void) | undefined>();
  private readonly since = Date.now();

  constructor(
    readonly runId: string,
    private readonly wf: Workflow<unknown>,
    private readonly planHash: string,
    readonly priority: number,
    private readonly waitingFor: () => string,
    private readonly launch: () => RunHandle,
    private readonly leave: () => void,
  ) {
    this.startedOrCancelled = new Promise((resolve) => (this.settle = resolve));
  }

  /** Its place came: start the run. */
  begin(): void {
    if (this.cancelled) return;
    this.inner = this.launch();
    for (const l of this.listeners.keys()) this.listeners.set(l, this.inner.on(l));
    this.settle(this.inner);
  }

  private pending(): RunRecord {
    return { runId: this.runId, workflow: this.wf.name, version: this.wf.version, planHash: this.planHash, status: "pending", waitingFor: this.waitingFor(), states: [], tasks: [] };
  }

  async result(): Promise<RunRecord> {
    const h = await this.startedOrCancelled;
    return h ? h.result() : this.cancelled!;
  }

  async cancel(reason?: string): Promise<void> {
    if (this.inner) return this.inner.cancel(reason);
    if (this.cancelled) return;
    this.leave();
    this.cancelled = { ...this.pending(), status: "cancelled", reason: reason ?? "cancelled while queued", finishedAt: Date.now() };
    delete this.cancelled.waitingFor;
    this.settle(undefined);
  }

  status(): RunRecord {
    return this.inner?.status() ?? this.cancelled ?? this.pending();
  }

  summary(): RunSummary {
    if (this.inner) return this.inner.summary();
    const r = this.status();
    return { runId: r.runId, workflow: r.workflow, version: r.version, planHash: r.planHash, status: r.status, startedAt: this.since, tasks: { total: 0, succeeded: 0, failed: 0, running: 0 } };
  }

  async *events(): AsyncIterable<RunEvent> {
    const h = await this.startedOrCancelled;
    if (h) yield* h.events();
  }

  async *updates(): AsyncIterable<RunUpdate> {
    const h = await this.startedOrCancelled;
    if (h) yield* h.updates();
  }

  on(listener: (event: RunEvent) => void): () => void {
    if (this.inner) return this.inner.on(listener);
    this.listeners.set(listener, undefined);
    return () => {
      this.listeners.get(listener)?.();
      this.listeners.delete(listener);
    };
  }
}
