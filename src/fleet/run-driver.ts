/**
 * Which runs this coordinator drives, and keeping that true across crashes.
 *
 * Each run this coordinator drives holds a lease in `<p>_runs` (run-store.ts), renewed
 * every `leaseMs / 3`. Every `leaseMs / 2` the driver looks through the index of
 * active runs for those whose lease expired — their coordinator died or was cut off —
 * takes each over with compare-and-set (so exactly one coordinator wins it), folds the
 * run's stored history and decides `resume` (`engine.resume`: the live code path). If
 * a renewal finds that another coordinator took a run, this one stops driving it at
 * once (`engine.release`); and should it miss that (paused past its lease), its next
 * decision is fenced out by the new holder's claim and it lets go then.
 *
 * Runs accepted while their executors had no live worker are `pending`: their input
 * is kept in the KV entry so a coordinator that takes the run over can still start it.
 * What a takeover does is run-takeover.ts; how a run that cannot be driven ends, run-failure.ts;
 * how a run meets its workflow's concurrency (queued, admitted, its place kept), run-admission.ts.
 */
import type { Workflow } from "../dsl/workflow.js";
import type { CatalogEntry, WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { PhaseflowError, RunReleasedError, UsageError } from "../errors/base.js";
import { systemClock, type Clock } from "../support/clock.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { RunHandle } from "../runtime/shell/run-handle.js";
import type { Engine } from "../embedded/engine.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { StoredMessage } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import type { TypedEntry, TypedKv } from "../transport/fleet-port.js";
import type { KvRunGate, RunAdmission } from "./kv-run-gate.js";
import { every, type BackgroundJob } from "./background-job.js";
import { missingWorkersFor, whenWorkersServe, type WorkerHeartbeat } from "./heartbeat.js";
import { RunPlaces } from "./run-admission.js";
import { saveOnChange } from "./summary-saver.js";
import { recordRunFailure } from "./run-failure.js";
import { acceptedUnstarted, createRunStore, endedUnstarted, summarize, type RunStore, type RunStoreKv, type StoredRun } from "./run-store.js";
import { isOrphan, takeOver, type StartOfRun, type TakeoverDeps, type TakeoverHost } from "./run-takeover.js";

export type { StartOfRun } from "./run-takeover.js";

export interface RunDriverOptions {
  id: string;
  engine: Engine;
  transport: Transport;
  /** Every workflow version served: runs are matched to theirs by plan hash. */
  workflows: WorkflowCatalog;
  kv: RunStoreKv;
  workersKv: TypedKv<WorkerHeartbeat>;
  leaseMs: number;
  workerPollMs: number;
  logger: Logger;
  /** Default: the system clock. Leases, scans and waits run on it. */
  clock?: Clock;
  /** Runs in flight per key of workflows with `concurrency`, shared by the fleet (kv-run-gate.ts). Without: not enforced. */
  runGate?: KvRunGate;
}

export class RunDriver {
  readonly store: RunStore;
  private readonly handles = new Map<string, RunHandle>();
  private readonly waiting = new Map<string, BackgroundJob>();
  private readonly timers: BackgroundJob[] = [];
  private readonly clock: Clock;
  private readonly places: RunPlaces;
  private scanning = false;
  /** Runs whose resume failed for good here (e.g. PLAN_MISMATCH after an upgrade): left for another coordinator. */
  private readonly unresumable = new Set<string>();
  /** Runs being accepted or adopted right now (claimed in KV, not yet tracked): never orphans. */
  private readonly starting = new Set<string>();
  /** Runs that ended here and whose final summary is being saved: until then the handle is still held. */
  private readonly ending = new Map<string, Promise<void>>();
  private closed = false;
  private readonly takeover: TakeoverDeps;
  /** What a takeover (run-takeover.ts) asks of this driver. */
  private readonly host: TakeoverHost = {
    knows: (id) => this.handles.has(id) || this.waiting.has(id) || this.starting.has(id) || this.unresumable.has(id),
    startOrWait: async (served, start, runId, run) => {
      // Queued (or admitted, not yet begun) by a coordinator that died: it keeps its place, or its place in the queue.
      const queued = await this.places.requeue(runId, served.workflow, start, run);
      if (queued !== undefined && run.runLimit !== undefined) {
        this.queue(served, start, runId, queued, run.runLimit.queuedAt);
        return;
      }
      const missing = await this.missingFor(served.plan);
      if (missing.length === 0) await this.begin(served.workflow, start, runId);
      else this.waitForWorkers(served, start, runId, missing);
    },
    // In flight: it keeps its place (the lease outlives a takeover; one that lapsed is counted again).
    keepPlace: (run) => this.places.keep(run),
    givePlaceBack: (run) => this.places.giveBack(run),
    track: (handle) => this.track(handle),
    cancelHeld: (runId, reason) => this.cancelHeld(runId, reason),
    fail: (runId, err) => this.fail(runId, err),
    giveUp: (runId) => this.unresumable.add(runId),
  };

  constructor(private readonly o: RunDriverOptions) {
    this.clock = o.clock ?? systemClock;
    this.places = new RunPlaces(o.runGate, o.logger);
    this.store = createRunStore(o.kv, {
      owner: o.id,
      leaseMs: o.leaseMs,
      now: () => this.clock.now(),
      logger: o.logger,
      onLost: (runId, newOwner) => this.lost(runId, newOwner),
      onCancelRequested: (runId, reason) => this.applyCancelRequest(runId, reason),
    });
    this.takeover = { id: o.id, engine: o.engine, transport: o.transport, workflows: o.workflows, store: this.store, clock: this.clock, logger: o.logger };
  }

  /** Start renewing leases and scanning for orphaned runs (one scan right away). */
  async startBackground(): Promise<void> {
    this.timers.push(every(this.clock, Math.max(200, Math.floor(this.o.leaseMs / 3)), () => this.store.renewAll(), this.o.logger));
    this.timers.push(every(this.clock, Math.max(200, Math.floor(this.o.leaseMs / 2)), () => this.scanOrphans(), this.o.logger));
    await this.scanOrphans();
  }

  handle(runId: string): RunHandle | undefined {
    return this.handles.get(runId);
  }

  get size(): number {
    return this.handles.size;
  }

  /** The runs driven here now. */
  runIds(): string[] {
    return [...this.handles.keys()];
  }

  isWaiting(runId: string): boolean {
    return this.waiting.has(runId);
  }

  /** What a pending run queues for under its workflow's concurrency, read from the limit now; undefined once it has its place. */
  queuedFor(run: StoredRun): Promise<string | undefined> {
    return this.places.queuedFor(run);
  }

  /**
   * Accept a new run: claim it in KV, then start it now or when its workers appear. Resolves
   * with the executors no live worker serves yet, and the workflow limit's place the run
   * queues for (onLimit "queue"), if it queued.
   */
  async accept(served: CatalogEntry, start: StartOfRun, runId: string, startKey?: string): Promise<{ waitingFor: string[]; queued?: NonNullable<StoredRun["runLimit"]> }> {
    const missing = await this.missingFor(served.plan);
    // Runs in flight per key: a place now, a place in the queue, or (onLimit "drop") a refusal before anything is stored.
    const queuedAt = this.clock.now();
    const { admission, queued, stored } = await this.places.admit(runId, served.workflow, start, queuedAt);
    const run = { runId, workflow: served.workflow.name, version: served.plan.version, planHash: served.plan.planHash };
    const base = acceptedUnstarted(run, start, { waitingFor: missing, startKey, runLimit: stored });
    this.starting.add(runId);
    try {
      try {
        await this.store.create(base);
      } catch (err) {
        if (admission !== undefined) this.places.release(runId, admission.ref);
        // KV create fails when the key exists; anything else (bad value, server away) is not "in use".
        if (err instanceof PhaseflowError || (await this.store.get(runId).catch(() => undefined)) === undefined) throw err;
        throw new UsageError(`run id "${runId}" is already in use; choose another or leave it out`);
      }
      if (queued && admission !== undefined) {
        this.queue(served, start, runId, admission, queuedAt);
      } else if (missing.length === 0) {
        await this.beginOrFail(served.workflow, start, runId);
      } else {
        this.waitForWorkers(served, start, runId, missing);
      }
      return queued && admission !== undefined && stored !== undefined ? { waitingFor: missing, queued: stored } : { waitingFor: missing };
    } finally {
      this.starting.delete(runId);
    }
  }

  /** A queued run held here: it waits in the gate (a pending run in the store) and starts once it has a place. */
  private queue(served: CatalogEntry, start: StartOfRun, runId: string, admission: RunAdmission, at: number): void {
    const park = (job: BackgroundJob): void => void this.waiting.set(runId, job);
    this.places.queue(runId, admission, at, park, (job) => {
      if (this.closed || this.waiting.get(runId) !== job) return false;
      this.waiting.delete(runId);
      this.starting.add(runId);
      void this.proceed(served, start, runId)
        .catch((err: unknown) => this.o.logger.error({ err, runId }, "a queued run could not start"))
        .finally(() => this.starting.delete(runId));
      return true;
    });
  }

  /** A run with its place (or none needed): start it now, or once its workers appear. */
  private async proceed(served: CatalogEntry, start: StartOfRun, runId: string): Promise<void> {
    const missing = await this.missingFor(served.plan);
    if (missing.length > 0) {
      this.waitForWorkers(served, start, runId, missing);
      return;
    }
    await this.beginOrFail(served.workflow, start, runId);
  }

  /** Begin a run; one that cannot begin is ended (failed, with the reason in its history) and the error rethrown. */
  private async beginOrFail(wf: Workflow<unknown>, start: StartOfRun, runId: string): Promise<void> {
    try {
      await this.begin(wf, start, runId);
    } catch (err) {
      await this.fail(runId, err);
      throw err;
    }
  }

  /** Cancel a run we drive or hold pending; false when we do not hold it. */
  async cancelHeld(runId: string, reason: string): Promise<RunRecord["status"] | undefined> {
    const timer = this.waiting.get(runId);
    if (timer) {
      // Queued or waiting for workers: it never ran; its place (or queue entry) goes back.
      this.places.release(runId);
      timer.stop();
      this.waiting.delete(runId);
      const stored = await this.store.get(runId);
      if (stored) await this.store.save(endedUnstarted(stored.value, { status: "cancelled", finishedAt: this.clock.now() }));
      this.store.forget(runId);
      return "cancelled";
    }
    const handle = this.handles.get(runId);
    if (!handle) return undefined;
    await handle.cancel(reason);
    return handle.summary().status;
  }

  /** A cancel another coordinator recorded on a run we hold (its forward did not reach us): apply it. */
  private applyCancelRequest(runId: string, reason: string): void {
    if (!this.handles.has(runId) && !this.waiting.has(runId)) return;
    this.o.logger.info({ runId, reason }, "applying a cancel recorded by another coordinator");
    void this.cancelHeld(runId, reason).catch((err: unknown) => this.o.logger.warn({ err, runId }, "could not apply a recorded cancel; the next lease renewal tries again"));
  }

  /** Take a run over now if its lease expired; true when we now drive it. */
  async adoptIfOrphaned(runId: string): Promise<boolean> {
    const entry = await this.store.get(runId);
    if (!entry || !isOrphan(entry, this.takeover, this.host)) return false;
    return this.adopt(entry);
  }

  /**
   * Re-run a failed run from its failed tasks (or `from`), in the same history. The run is
   * claimed in KV first (compare-and-set on its failed entry), so two retries cannot both win.
   */
  async retry(wf: Workflow<unknown>, runId: string, history: StoredMessage[], from?: { state: string; task: string }): Promise<void> {
    // A client that saw the run fail can ask before this coordinator has saved its end: wait for that.
    const held = this.handles.get(runId);
    if (held !== undefined && held.summary().status === "failed") {
      await held.result().catch(() => undefined); // track()'s own callback runs first and marks the save
      await this.ending.get(runId);
    }
    if (this.handles.has(runId) || this.starting.has(runId)) throw new UsageError(`run "${runId}" is already being driven (a retry is under way)`);
    const entry = await this.store.get(runId);
    if (!entry || entry.value.status !== "failed") throw new UsageError(`run "${runId}" is ${entry?.value.status ?? "unknown here"}; only a failed run can be retried`);
    this.starting.add(runId);
    try {
      // A cancel recorded before the run failed is spent: it does not stop the re-run.
      if (!(await this.store.reclaim(entry))) throw new UsageError(`run "${runId}" is being retried by another coordinator`);
      try {
        await this.places.keep(entry.value);
        this.track(await this.o.engine.retry(wf, history, from));
      } catch (err) {
        this.store.forget(runId);
        // Not driven here after all: stop renewing its place (it lapses, or its driver keeps it).
        this.places.forget(runId);
        throw err;
      }
    } finally {
      this.starting.delete(runId);
    }
  }

  /** End a run this coordinator cannot drive (run-failure.ts); it is left alone here from then on. */
  private async fail(runId: string, err: unknown): Promise<void> {
    try {
      await recordRunFailure(this.takeover, runId, err);
    } finally {
      this.store.forget(runId);
      this.unresumable.add(runId);
      this.places.release(runId);
    }
  }

  /**
   * Stop: `stopDriving` (the engine's close) halts every run first; then the leases of
   * unfinished runs are given up (expired) so another coordinator takes them at once.
   */
  async close(stopDriving: () => Promise<void>): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) t.stop();
    for (const t of this.waiting.values()) t.stop();
    const held = this.store.held();
    for (const runId of held) this.store.forget(runId);
    await stopDriving();
    await Promise.all(held.map((runId) => this.store.giveUp(runId)));
  }

  private async missingFor(plan: Plan): Promise<string[]> {
    return missingWorkersFor(this.o.workersKv, plan, this.clock.now());
  }

  private waitForWorkers(served: CatalogEntry, start: StartOfRun, runId: string, missing: string[]): void {
    this.o.logger.warn({ runId, workflow: served.workflow.name, missing }, `run waits for workers serving: ${missing.join(", ")}`);
    // Cancelled, lost or closed meanwhile: it is not started.
    const wanted = (job: BackgroundJob): boolean => !this.closed && this.waiting.get(runId) === job;
    const look = { kv: this.o.workersKv, plan: served.plan, clock: this.clock, pollMs: this.o.workerPollMs, logger: this.o.logger };
    const job = whenWorkersServe(look, wanted, async () => {
      this.waiting.delete(runId);
      this.o.logger.info({ runId }, "workers are available: starting the run");
      await this.begin(served.workflow, start, runId).catch((err: unknown) => this.o.logger.error({ err, runId }, "a waiting run could not start"));
    });
    this.waiting.set(runId, job);
  }

  private async begin(wf: Workflow<unknown>, start: StartOfRun, runId: string): Promise<void> {
    const handle = await this.o.engine.start(wf, { input: start.input, options: { ...start.options, runId }, ...(start.parent !== undefined ? { parent: start.parent } : {}) });
    this.track(handle);
  }

  /** Persist the handle's summary as it changes (summary-saver.ts), and its end once it ends. */
  private track(handle: RunHandle): void {
    const { runId } = handle;
    this.handles.set(runId, handle);
    const off = saveOnChange(handle, () => {
      if (this.handles.get(runId) === handle) void this.store.save(handle.summary());
    });
    void handle.result().then(
      async (record) => {
        off();
        if (this.handles.get(runId) !== handle) return;
        this.o.logger.info({ runId, status: record.status }, "run finished");
        this.places.release(runId);
        const saved = this.store.save(summarize(record)).then(() => undefined);
        this.ending.set(runId, saved.catch(() => undefined));
        try {
          await saved;
        } finally {
          this.ending.delete(runId);
          this.store.forget(runId);
          this.handles.delete(runId);
        }
      },
      (err: unknown) => {
        off();
        if (this.handles.get(runId) !== handle || this.closed) return; // released to another coordinator, or shutting down
        this.handles.delete(runId);
        if (err instanceof RunReleasedError) {
          // Fenced out: another coordinator holds the run now. Recording anything would undo its work.
          this.store.forget(runId);
          this.places.forget(runId);
          this.o.logger.warn({ runId }, "run released: another coordinator holds it now");
          return;
        }
        if (err instanceof PhaseflowError && !err.retryable) {
          // It would break the same way when resumed: end it, with the reason in its history.
          void this.fail(runId, err);
          return;
        }
        // Stop renewing: once the lease expires the run is resumed from its history (by us or another coordinator).
        this.store.forget(runId);
        this.places.forget(runId);
        this.o.logger.warn({ err, runId }, "run stopped without finishing here; it will be resumed from its history");
      },
    );
  }

  private async scanOrphans(): Promise<void> {
    if (this.scanning || this.closed) return;
    this.scanning = true;
    try {
      for (const entry of await this.store.active()) {
        if (this.closed) return;
        if (isOrphan(entry, this.takeover, this.host)) await this.adopt(entry);
      }
    } catch (err) {
      this.o.logger.warn({ err }, "scan for orphaned runs failed; will retry");
    } finally {
      this.scanning = false;
    }
  }

  private async adopt(entry: TypedEntry<StoredRun>): Promise<boolean> {
    const id = entry.value.runId;
    if (this.starting.has(id)) return false;
    this.starting.add(id);
    try {
      return await takeOver(entry, this.takeover, this.host);
    } finally {
      this.starting.delete(id);
    }
  }

  private lost(runId: string, newOwner: string): void {
    this.o.logger.warn({ runId, newOwner }, "another coordinator took this run over; stop driving it");
    const timer = this.waiting.get(runId);
    if (timer) {
      timer.stop();
      this.waiting.delete(runId);
    }
    this.places.forget(runId);
    if (this.handles.delete(runId)) this.o.engine.release(runId);
  }
}
