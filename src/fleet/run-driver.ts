/**
 * Which runs this coordinator drives, and keeping that true across crashes.
 *
 * Each run this coordinator drives holds a lease in `<p>_runs` (run-store.ts), renewed
 * every `leaseMs / 3`. Every `leaseMs / 2` the driver scans the bucket for unfinished
 * runs whose lease expired — their coordinator died or was cut off — takes each over
 * with compare-and-set (so exactly one coordinator wins it), rebuilds the run from its
 * event history (`engine.resume`) and carries on. If a renewal finds that another
 * coordinator took a run (we were cut off longer than the lease), this one stops
 * driving it at once (`engine.release`), publishing nothing more.
 *
 * Runs accepted while their executors had no live worker are `pending`: their input
 * is kept in the KV entry so a coordinator that takes the run over can still start it.
 */
import type { Workflow } from "../dsl/workflow.js";
import { PhaseflowError, UsageError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import { reduceRunEvents } from "../runtime/run-record.js";
import { indexPlan } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { RunHandle } from "../runtime/coordinator-run.js";
import type { Engine } from "../runtime/engine.js";
import type { RunRecord } from "../runtime/run-record-schema.js";
import type { RunEvent } from "../transport/messages.js";
import type { NatsTransport } from "../transport/nats/transport.js";
import type { TypedEntry, TypedKv } from "../transport/nats/typed-kv.js";
import { HEARTBEAT_STALE_MS, missingExecutors, readLiveWorkers, type WorkerHeartbeat } from "./heartbeat.js";
import { createRunStore, summarize, type RunStore, type StoredRun } from "./run-store.js";

export interface RunDriverOptions {
  id: string;
  engine: Engine;
  transport: NatsTransport;
  workflows: ReadonlyMap<string, { workflow: Workflow<unknown>; plan: Plan }>;
  runsKv: TypedKv<StoredRun>;
  workersKv: TypedKv<WorkerHeartbeat>;
  leaseMs: number;
  workerPollMs: number;
  logger: Logger;
}

const UNFINISHED = new Set<StoredRun["status"]>(["pending", "running"]);

export class RunDriver {
  readonly store: RunStore;
  private readonly handles = new Map<string, RunHandle>();
  private readonly waiting = new Map<string, ReturnType<typeof setInterval>>();
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private scanning = false;
  /** Runs whose resume failed for good here (e.g. PLAN_MISMATCH after an upgrade): left for another coordinator. */
  private readonly unresumable = new Set<string>();
  /** Runs being accepted or adopted right now (claimed in KV, not yet tracked): never orphans. */
  private readonly starting = new Set<string>();
  private closed = false;

  constructor(private readonly o: RunDriverOptions) {
    this.store = createRunStore(o.runsKv, {
      owner: o.id,
      leaseMs: o.leaseMs,
      now: () => Date.now(),
      logger: o.logger,
      onLost: (runId, newOwner) => this.lost(runId, newOwner),
    });
  }

  /** Start renewing leases and scanning for orphaned runs (one scan right away). */
  async startBackground(): Promise<void> {
    const renew = setInterval(() => void this.store.renewAll(), Math.max(200, Math.floor(this.o.leaseMs / 3)));
    const scan = setInterval(() => void this.scanOrphans(), Math.max(200, Math.floor(this.o.leaseMs / 2)));
    renew.unref();
    scan.unref();
    this.timers.push(renew, scan);
    await this.scanOrphans();
  }

  handle(runId: string): RunHandle | undefined {
    return this.handles.get(runId);
  }

  get size(): number {
    return this.handles.size;
  }

  isWaiting(runId: string): boolean {
    return this.waiting.has(runId);
  }

  /** Accept a new run: claim it in KV, then start it now or when its workers appear. */
  async accept(name: string, input: unknown, runOptions: Record<string, unknown>, runId: string): Promise<string[]> {
    const served = this.o.workflows.get(name)!;
    const missing = await this.missingFor(served.plan);
    const base = {
      runId,
      workflow: name,
      version: served.plan.version,
      planHash: served.plan.planHash,
      status: "pending" as const,
      tasks: { total: 0, succeeded: 0, failed: 0, running: 0 },
      // The input is kept until run.started is stored, so a coordinator that takes the run over can start it.
      pendingStart: { input, options: runOptions },
      ...(missing.length > 0 ? { waitingFor: missing } : {}),
    };
    this.starting.add(runId);
    try {
      try {
        await this.store.create(base);
      } catch (err) {
        // KV create fails when the key exists; anything else (bad value, server away) is not "in use".
        if (err instanceof PhaseflowError || (await this.store.get(runId).catch(() => undefined)) === undefined) throw err;
        throw new UsageError(`run id "${runId}" is already in use; choose another or leave it out`);
      }
      if (missing.length === 0) {
        try {
          await this.begin(served.workflow, input, runOptions, runId);
        } catch (err) {
          await this.fail(runId, err);
          throw err;
        }
      } else {
        this.waitForWorkers(served, input, runOptions, runId, missing);
      }
      return missing;
    } finally {
      this.starting.delete(runId);
    }
  }

  /** Cancel a run we drive or hold pending; false when we do not hold it. */
  async cancelHeld(runId: string, reason: string): Promise<RunRecord["status"] | undefined> {
    const timer = this.waiting.get(runId);
    if (timer) {
      clearInterval(timer);
      this.waiting.delete(runId);
      const stored = await this.store.get(runId);
      if (stored) {
        const { pendingStart: _input, waitingFor: _missing, ...rest } = stored;
        await this.store.save({ ...rest, status: "cancelled", finishedAt: Date.now() });
      }
      this.store.forget(runId);
      return "cancelled";
    }
    const handle = this.handles.get(runId);
    if (!handle) return undefined;
    await handle.cancel(reason);
    return handle.status().status;
  }

  /** Take a run over now if its lease expired; true when we now drive it. */
  async adoptIfOrphaned(runId: string): Promise<boolean> {
    const entry = (await this.store.entries()).find((e) => e.key === runId);
    if (!entry || !this.isOrphan(entry)) return false;
    return this.adopt(entry);
  }

  /**
   * Re-run a failed run from its failed tasks (or `from`), in the same history. The run is
   * claimed in KV first (compare-and-set on its failed entry), so two retries cannot both win.
   */
  async retry(wf: Workflow<unknown>, events: RunEvent[], from?: { state: string; task: string }): Promise<void> {
    const runId = events[0]?.runId ?? "";
    if (this.handles.has(runId) || this.starting.has(runId)) throw new UsageError(`run "${runId}" is already being driven (a retry is under way)`);
    const entry = await this.o.runsKv.get(runId);
    if (!entry || entry.value.status !== "failed") throw new UsageError(`run "${runId}" is ${entry?.value.status ?? "unknown here"}; only a failed run can be retried`);
    this.starting.add(runId);
    try {
      if (!(await this.store.takeOver(entry))) throw new UsageError(`run "${runId}" is being retried by another coordinator`);
      try {
        this.track(await this.o.engine.retry(wf, events, from));
      } catch (err) {
        this.store.forget(runId);
        throw err;
      }
    } finally {
      this.starting.delete(runId);
    }
  }

  /** End a run this coordinator cannot drive: run.failed in its history (when it has one) and in KV. */
  private async fail(runId: string, err: unknown): Promise<void> {
    this.o.logger.error({ err, runId }, "run failed: it cannot be driven");
    const error = serializeError(err);
    try {
      const events = await this.o.transport.readRunEvents(runId);
      if (events.length > 0) {
        await this.o.transport.publishEvent({ type: "run.failed", runId, at: Date.now(), error });
        await this.store.save({ ...summarize(reduceRunEvents([...events, { type: "run.failed", runId, at: Date.now(), error }])) });
      } else {
        const stored = await this.store.get(runId);
        if (stored) {
          const { pendingStart: _input, waitingFor: _missing, coordinator: _c, leaseUntil: _l, updatedAt: _u, ...rest } = stored;
          await this.store.save({ ...rest, status: "failed", error, finishedAt: Date.now() });
        }
      }
    } catch (e) {
      this.o.logger.warn({ err: e, runId }, "could not record the run's failure");
    } finally {
      this.store.forget(runId);
      this.unresumable.add(runId);
    }
  }

  /**
   * Stop: `stopDriving` (the engine's close) halts every run first; then the leases of
   * unfinished runs are given up (expired) so another coordinator takes them at once.
   */
  async close(stopDriving: () => Promise<void>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    for (const t of this.waiting.values()) clearInterval(t);
    const held = this.store.held();
    for (const runId of held) this.store.forget(runId);
    await stopDriving();
    await Promise.all(
      held.map(async (runId) => {
        const entry = await this.o.runsKv.get(runId).catch(() => undefined);
        if (!entry || !UNFINISHED.has(entry.value.status)) return;
        if (entry && entry.value.coordinator === this.o.id) {
          await this.o.runsKv.update(runId, { ...entry.value, leaseUntil: 0, updatedAt: Date.now() }, entry.revision).catch(() => undefined);
        }
      }),
    );
  }

  private async missingFor(plan: Plan): Promise<string[]> {
    return missingExecutors(indexPlan(plan).executors(), await readLiveWorkers(this.o.workersKv, Date.now(), HEARTBEAT_STALE_MS));
  }

  private waitForWorkers(served: { workflow: Workflow<unknown>; plan: Plan }, input: unknown, runOptions: Record<string, unknown>, runId: string, missing: string[]): void {
    this.o.logger.warn({ runId, workflow: served.workflow.name, missing }, `run waits for workers serving: ${missing.join(", ")}`);
    const timer = setInterval(() => {
      void (async () => {
        if (this.closed || this.waiting.get(runId) !== timer) return;
        const stillMissing = (await this.missingFor(served.plan)).length > 0;
        // Cancelled, lost or closed while we looked: do not start it.
        if (stillMissing || this.closed || this.waiting.get(runId) !== timer) return;
        clearInterval(timer);
        this.waiting.delete(runId);
        this.o.logger.info({ runId }, "workers are available: starting the run");
        await this.begin(served.workflow, input, runOptions, runId);
      })().catch((err: unknown) => this.o.logger.error({ err, runId }, "a waiting run could not start"));
    }, this.o.workerPollMs);
    timer.unref();
    this.waiting.set(runId, timer);
  }

  private async begin(wf: Workflow<unknown>, input: unknown, runOptions: Record<string, unknown>, runId: string): Promise<void> {
    const handle = await this.o.engine.run(wf, input, { ...runOptions, runId });
    this.track(handle);
  }

  /** Persist the handle's summary as it changes (state and run events at once, the rest coalesced), until it ends. */
  private track(handle: RunHandle): void {
    const { runId } = handle;
    this.handles.set(runId, handle);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      timer = undefined;
      if (this.handles.get(runId) === handle) void this.store.save(summarize(handle.status()));
    };
    const off = handle.on((event: RunEvent) => {
      if (event.type.startsWith("run.") || event.type.startsWith("state.")) {
        if (timer) clearTimeout(timer);
        flush();
      } else if (!timer) {
        timer = setTimeout(flush, 250);
        timer.unref();
      }
    });
    void handle.result().then(
      async (record) => {
        off();
        if (timer) clearTimeout(timer);
        if (this.handles.get(runId) !== handle) return;
        this.o.logger.info({ runId, status: record.status }, "run finished");
        await this.store.save(summarize(record));
        this.store.forget(runId);
        this.handles.delete(runId);
      },
      (err: unknown) => {
        off();
        if (this.handles.get(runId) !== handle || this.closed) return; // released to another coordinator, or shutting down
        this.handles.delete(runId);
        if (err instanceof PhaseflowError && !err.retryable) {
          // It would break the same way when resumed: end it, with the reason in its history.
          void this.fail(runId, err);
          return;
        }
        // Stop renewing: once the lease expires the run is resumed from its history (by us or another coordinator).
        this.store.forget(runId);
        this.o.logger.warn({ err, runId }, "run stopped without finishing here; it will be resumed from its history");
      },
    );
  }

  private isOrphan(entry: TypedEntry<StoredRun>): boolean {
    const run = entry.value;
    if (!UNFINISHED.has(run.status)) return false;
    if (this.handles.has(entry.key) || this.waiting.has(entry.key) || this.starting.has(entry.key) || this.unresumable.has(entry.key)) return false;
    if (!this.o.workflows.has(run.workflow)) return false; // another coordinator serves it
    return run.leaseUntil < Date.now() || run.coordinator === this.o.id;
  }

  private async scanOrphans(): Promise<void> {
    if (this.scanning || this.closed) return;
    this.scanning = true;
    try {
      for (const entry of await this.store.entries()) {
        if (this.closed) return;
        if (this.isOrphan(entry)) await this.adopt(entry);
      }
    } catch (err) {
      this.o.logger.warn({ err }, "scan for orphaned runs failed; will retry");
    } finally {
      this.scanning = false;
    }
  }

  private async adopt(entry: TypedEntry<StoredRun>): Promise<boolean> {
    if (this.starting.has(entry.key)) return false;
    this.starting.add(entry.key);
    try {
      return await this.adoptClaimed(entry);
    } finally {
      this.starting.delete(entry.key);
    }
  }

  private async adoptClaimed(entry: TypedEntry<StoredRun>): Promise<boolean> {
    const previous = entry.value.coordinator;
    if (!(await this.store.takeOver(entry))) return false;
    const served = this.o.workflows.get(entry.value.workflow)!;
    this.o.logger.warn({ runId: entry.key, previous }, "took over a run whose coordinator stopped renewing its lease");
    try {
      const pending = entry.value.pendingStart;
      const events = await this.o.transport.readRunEvents(entry.key);
      if (events.length === 0 && pending) {
        const missing = await this.missingFor(served.plan);
        if (missing.length === 0) await this.begin(served.workflow, pending.input, pending.options, entry.key);
        else this.waitForWorkers(served, pending.input, pending.options, entry.key, missing);
        return true;
      }
      if (events.length === 0) {
        await this.fail(entry.key, new UsageError(`run "${entry.key}" was accepted but neither its start nor its input was recorded`));
        return false;
      }
      this.track(await this.o.engine.resume(served.workflow, events));
      return true;
    } catch (err) {
      this.store.forget(entry.key);
      if (err instanceof PhaseflowError && !err.retryable) {
        this.unresumable.add(entry.key);
        this.o.logger.error({ err, runId: entry.key }, "this coordinator cannot resume the run (left for a coordinator that can, e.g. one serving the run's plan)");
      } else {
        this.o.logger.error({ err, runId: entry.key }, "could not resume the run; its lease will expire and another try follows");
      }
      return false;
    }
  }

  private lost(runId: string, newOwner: string): void {
    this.o.logger.warn({ runId, newOwner }, "another coordinator took this run over; stop driving it");
    const timer = this.waiting.get(runId);
    if (timer) {
      clearInterval(timer);
      this.waiting.delete(runId);
    }
    if (this.handles.delete(runId)) this.o.engine.release(runId);
  }
}
