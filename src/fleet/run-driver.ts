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
 */
import type { Workflow } from "../dsl/workflow.js";
import type { CatalogEntry, WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { PhaseflowError, RunReleasedError, UsageError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import { systemClock, type Clock } from "../support/clock.js";
import { historyEvents } from "../runtime/core/history.js";
import { pinnedPlanHash } from "../runtime/core/pinned-plan.js";
import { recordOfHistory } from "../runtime/core/run-record.js";
import { decide, type DecideRandom } from "../runtime/core/decide.js";
import { createRunState, foldEvents } from "../runtime/core/run-state.js";
import { resolveRunStart, type ResolvedRunStart } from "../support/run-options.js";
import { indexPlan } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { RunHandle } from "../runtime/shell/run-handle.js";
import type { Engine } from "../embedded/engine.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import { WIRE_VERSION, type ParentRef, type RunEvent, type StoredMessage } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import type { TypedEntry, TypedKv } from "../transport/fleet-port.js";
import { runLimitKey } from "../embedded/run-limits.js";
import type { RunLimitRef } from "../runtime/core/run-limit-state.js";
import type { KvRunGate, RunAdmission } from "./kv-run-gate.js";
import { HEARTBEAT_STALE_MS, missingExecutors, readLiveWorkers, type WorkerHeartbeat } from "./heartbeat.js";
import { createRunStore, isUnfinished, summarize, type RunStore, type RunStoreKv, type StoredRun } from "./run-store.js";

/** A run's resolved start, and its parent when it is a child run. */
export type StartOfRun = ResolvedRunStart & { parent?: ParentRef | undefined };

/** A `fail` decision dispatches nothing: it draws no token and no jitter. */
const NO_RANDOM: DecideRandom = {
  jitter: () => 0,
  token: () => {
    throw new Error("phaseflow bug: a run failed by its coordinator dispatched an attempt");
  },
};

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
  private readonly waiting = new Map<string, { stop(): void }>();
  private readonly timers: { stop(): void }[] = [];
  private readonly clock: Clock;
  private scanning = false;
  /** Runs whose resume failed for good here (e.g. PLAN_MISMATCH after an upgrade): left for another coordinator. */
  private readonly unresumable = new Set<string>();
  /** Runs being accepted or adopted right now (claimed in KV, not yet tracked): never orphans. */
  private readonly starting = new Set<string>();
  /** Runs that ended here and whose final summary is being saved: until then the handle is still held. */
  private readonly ending = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly o: RunDriverOptions) {
    this.clock = o.clock ?? systemClock;
    this.store = createRunStore(o.kv, {
      owner: o.id,
      leaseMs: o.leaseMs,
      now: () => this.clock.now(),
      logger: o.logger,
      onLost: (runId, newOwner) => this.lost(runId, newOwner),
      onCancelRequested: (runId, reason) => this.applyCancelRequest(runId, reason),
    });
  }

  /** Start renewing leases and scanning for orphaned runs (one scan right away). */
  async startBackground(): Promise<void> {
    this.timers.push(this.every(Math.max(200, Math.floor(this.o.leaseMs / 3)), () => this.store.renewAll()));
    this.timers.push(this.every(Math.max(200, Math.floor(this.o.leaseMs / 2)), () => this.scanOrphans()));
    await this.scanOrphans();
  }

  /** Run `job` every `ms` on the injected clock (the next one after the last has settled). */
  private every(ms: number, job: () => Promise<void>): { stop(): void } {
    let handle: unknown;
    let stopped = false;
    const tick = (): void => {
      handle = this.clock.setTimeout(() => {
        void job()
          .catch((err: unknown) => this.o.logger.warn({ err }, "a background job of the coordinator failed; it runs again"))
          .finally(() => {
            if (!stopped) tick();
          });
      }, ms);
      (handle as { unref?: () => void } | undefined)?.unref?.();
    };
    tick();
    return {
      stop: () => {
        stopped = true;
        this.clock.clearTimeout(handle);
      },
    };
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

  /** Accept a new run: claim it in KV, then start it now or when its workers appear. */
  async accept(served: CatalogEntry, start: StartOfRun, runId: string, startKey?: string): Promise<string[]> {
    const missing = await this.missingFor(served.plan);
    // Runs in flight per key: a place now, a place in the queue, or (onLimit "drop") a refusal before anything is stored.
    const admission = this.admissionOf(served.workflow, start);
    const queuedAt = this.clock.now();
    const queued = admission !== undefined && this.o.runGate !== undefined && !(await this.o.runGate.start(runId, admission, queuedAt));
    const base = {
      runId,
      workflow: served.workflow.name,
      version: served.plan.version,
      planHash: served.plan.planHash,
      status: "pending" as const,
      tasks: { total: 0, succeeded: 0, failed: 0, running: 0 },
      // The input is kept until run.started is stored, so a coordinator that takes the run over can start it.
      pendingStart: { input: start.input, options: start.options, ...(start.parent !== undefined ? { parent: start.parent } : {}) },
      ...(start.parent !== undefined ? { parent: start.parent.runId } : {}),
      ...(startKey !== undefined ? { startKey } : {}),
      ...(missing.length > 0 ? { waitingFor: missing } : {}),
      ...(admission !== undefined ? { runLimit: { key: admission.ref.key, limit: admission.ref.limit, queuedAt } } : {}),
    };
    this.starting.add(runId);
    try {
      try {
        await this.store.create(base);
      } catch (err) {
        if (admission !== undefined) this.o.runGate?.release(runId, admission.ref);
        // KV create fails when the key exists; anything else (bad value, server away) is not "in use".
        if (err instanceof PhaseflowError || (await this.store.get(runId).catch(() => undefined)) === undefined) throw err;
        throw new UsageError(`run id "${runId}" is already in use; choose another or leave it out`);
      }
      if (queued) {
        this.queue(served, start, runId, admission, queuedAt);
      } else if (missing.length === 0) {
        try {
          await this.begin(served.workflow, start, runId);
        } catch (err) {
          await this.fail(runId, err);
          throw err;
        }
      } else {
        this.waitForWorkers(served, start, runId, missing);
      }
      return missing;
    } finally {
      this.starting.delete(runId);
    }
  }

  /** How a run of `wf` meets its workflow's `concurrency` (undefined: it has none, or no gate enforces it here). */
  private admissionOf(wf: Workflow<unknown>, start: StartOfRun): RunAdmission | undefined {
    const c = wf.options.concurrency;
    if (c === undefined || this.o.runGate === undefined) return undefined;
    const priority = typeof start.options.priority === "number" ? start.options.priority : (wf.options.priority ?? 3);
    return { ref: { workflow: wf.name, key: runLimitKey(wf, start.input), limit: c.limit }, onLimit: c.onLimit ?? "queue", priority };
  }

  /** The limit a stored run holds a place of (or is queued for). */
  private static refOf(run: StoredRun): RunLimitRef | undefined {
    return run.runLimit === undefined ? undefined : { workflow: run.workflow, key: run.runLimit.key, limit: run.runLimit.limit };
  }

  /** A queued run held here: it waits in the gate (a pending run in the store) and starts once it has a place. */
  private queue(served: CatalogEntry, start: StartOfRun, runId: string, admission: RunAdmission, at: number): void {
    const gate = this.o.runGate!;
    this.o.logger.info({ runId, workflow: served.workflow.name, key: admission.ref.key, limit: admission.ref.limit }, "run queued: its key has as many runs in flight as its workflow's concurrency allows");
    const marker = { stop: () => gate.stopWaiting(runId) };
    this.waiting.set(runId, marker);
    gate.wait(runId, admission, at, () => {
      if (this.closed || this.waiting.get(runId) !== marker) {
        gate.release(runId, admission.ref);
        return;
      }
      this.waiting.delete(runId);
      this.starting.add(runId);
      void this.proceed(served, start, runId)
        .catch((err: unknown) => this.o.logger.error({ err, runId }, "a queued run could not start"))
        .finally(() => this.starting.delete(runId));
    });
  }

  /** A run with its place (or none needed): start it now, or once its workers appear. */
  private async proceed(served: CatalogEntry, start: StartOfRun, runId: string): Promise<void> {
    const missing = await this.missingFor(served.plan);
    if (missing.length > 0) {
      this.waitForWorkers(served, start, runId, missing);
      return;
    }
    try {
      await this.begin(served.workflow, start, runId);
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
      this.o.runGate?.release(runId);
      timer.stop();
      this.waiting.delete(runId);
      const stored = await this.store.get(runId);
      if (stored) {
        const { pendingStart: _input, waitingFor: _missing, coordinator: _c, leaseUntil: _l, updatedAt: _u, ...rest } = stored.value;
        await this.store.save({ ...rest, status: "cancelled", finishedAt: this.clock.now() });
      }
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
    if (!entry || !this.isOrphan(entry)) return false;
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
      const { cancelRequested: _spent, ...value } = entry.value;
      if (!(await this.store.takeOver({ ...entry, value }))) throw new UsageError(`run "${runId}" is being retried by another coordinator`);
      try {
        await this.o.kv.active.put(`active.${runId}`, { workflow: wf.name, since: this.clock.now() });
        const ref = RunDriver.refOf(entry.value);
        if (ref !== undefined) await this.o.runGate?.hold(runId, ref);
        this.track(await this.o.engine.retry(wf, history, from));
      } catch (err) {
        this.store.forget(runId);
        throw err;
      }
    } finally {
      this.starting.delete(runId);
    }
  }

  /**
   * End a run this coordinator cannot drive: `decide` a `fail` on its folded history and
   * store what it decides (run.failed, unless the history already ended; a fenced decision,
   * appended after the last one read) and the summary in KV.
   */
  private async fail(runId: string, err: unknown): Promise<void> {
    this.o.logger.error({ err, runId }, "run failed: it cannot be driven");
    const error = serializeError(err);
    try {
      const { messages, lastDecisionSeq } = await this.o.transport.readHistory(runId);
      if (messages.length > 0) {
        const at = this.clock.now();
        const state = foldEvents(createRunState(runId), historyEvents(messages));
        const { events } = decide(state, { type: "fail", error }, at, NO_RANDOM);
        // epoch 0: no claim; the append is fenced by lastDecisionSeq instead.
        if (events.length > 0) await this.o.transport.appendDecision({ v: WIRE_VERSION, kind: "decision", runId, by: this.o.id, epoch: 0, through: state.through, at, events }, lastDecisionSeq);
        await this.store.save(summarize(state.record));
      } else {
        const stored = await this.store.get(runId);
        if (stored) {
          const { pendingStart: _input, waitingFor: _missing, coordinator: _c, leaseUntil: _l, updatedAt: _u, ...rest } = stored.value;
          await this.store.save({ ...rest, status: "failed", error, finishedAt: this.clock.now() });
        }
      }
    } catch (e) {
      this.o.logger.warn({ err: e, runId }, "could not record the run's failure");
    } finally {
      this.store.forget(runId);
      this.unresumable.add(runId);
      this.o.runGate?.release(runId);
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
    await Promise.all(
      held.map(async (runId) => {
        const entry = await this.store.get(runId).catch(() => undefined);
        if (!entry || !isUnfinished(entry.value)) return;
        if (entry.value.coordinator === this.o.id) {
          await this.o.kv.runs.update(entry.key, { ...entry.value, leaseUntil: 0, updatedAt: this.clock.now() }, entry.revision).catch((err: unknown) => this.o.logger.debug({ err, runId }, "could not give the lease up; it expires on its own"));
        }
      }),
    );
  }

  private async missingFor(plan: Plan): Promise<string[]> {
    return missingExecutors(indexPlan(plan).executors(), await readLiveWorkers(this.o.workersKv, this.clock.now(), HEARTBEAT_STALE_MS));
  }

  private waitForWorkers(served: CatalogEntry, start: StartOfRun, runId: string, missing: string[]): void {
    this.o.logger.warn({ runId, workflow: served.workflow.name, missing }, `run waits for workers serving: ${missing.join(", ")}`);
    const timer = this.every(this.o.workerPollMs, async () => {
      if (this.closed || this.waiting.get(runId) !== timer) return;
      const stillMissing = (await this.missingFor(served.plan)).length > 0;
      // Cancelled, lost or closed while we looked: do not start it.
      if (stillMissing || this.closed || this.waiting.get(runId) !== timer) return;
      timer.stop();
      this.waiting.delete(runId);
      this.o.logger.info({ runId }, "workers are available: starting the run");
      await this.begin(served.workflow, start, runId).catch((err: unknown) => this.o.logger.error({ err, runId }, "a waiting run could not start"));
    });
    this.waiting.set(runId, timer);
  }

  private async begin(wf: Workflow<unknown>, start: StartOfRun, runId: string): Promise<void> {
    const handle = await this.o.engine.start(wf, { input: start.input, options: { ...start.options, runId }, ...(start.parent !== undefined ? { parent: start.parent } : {}) });
    this.track(handle);
  }

  /** Persist the handle's summary as it changes (state and run events at once, the rest coalesced), until it ends. */
  private track(handle: RunHandle): void {
    const { runId } = handle;
    this.handles.set(runId, handle);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = (): void => {
      timer = undefined;
      if (this.handles.get(runId) === handle) void this.store.save(handle.summary());
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
        this.o.runGate?.release(runId);
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
          this.o.runGate?.forget(runId);
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
        this.o.runGate?.forget(runId);
        this.o.logger.warn({ err, runId }, "run stopped without finishing here; it will be resumed from its history");
      },
    );
  }

  private isOrphan(entry: TypedEntry<StoredRun>): boolean {
    const run = entry.value;
    const id = run.runId;
    if (!isUnfinished(run)) return false;
    if (this.handles.has(id) || this.waiting.has(id) || this.starting.has(id) || this.unresumable.has(id)) return false;
    // Pinned to its plan: only a coordinator serving that plan resumes it; the run waits for one (run-waits-for.ts).
    if (this.o.workflows.byPlan(run.planHash) === undefined) return false;
    return run.leaseUntil < this.clock.now() || run.coordinator === this.o.id;
  }

  private async scanOrphans(): Promise<void> {
    if (this.scanning || this.closed) return;
    this.scanning = true;
    try {
      for (const entry of await this.store.active()) {
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
    const id = entry.value.runId;
    if (this.starting.has(id)) return false;
    this.starting.add(id);
    try {
      return await this.adoptClaimed(entry);
    } finally {
      this.starting.delete(id);
    }
  }

  private async adoptClaimed(entry: TypedEntry<StoredRun>): Promise<boolean> {
    const runId = entry.value.runId;
    const previous = entry.value.coordinator;
    const served = this.o.workflows.byPlan(entry.value.planHash);
    if (served === undefined) return false;
    if (!(await this.store.takeOver(entry))) return false;
    this.o.logger.warn({ runId: runId, previous }, "took over a run whose coordinator stopped renewing its lease");
    const cancelRequested = entry.value.cancelRequested;
    try {
      const pending = entry.value.pendingStart;
      const { messages } = await this.o.transport.readHistory(runId);
      if (messages.length === 0 && pending && cancelRequested !== undefined) {
        // Cancelled before it ever started: nothing to run, nothing to stop.
        this.o.logger.info({ runId, reason: cancelRequested }, "a run cancelled before it started is recorded cancelled");
        const { pendingStart: _input, waitingFor: _missing, coordinator: _c, leaseUntil: _l, updatedAt: _u, ...rest } = entry.value;
        await this.store.save({ ...rest, status: "cancelled", finishedAt: this.clock.now() });
        this.store.forget(runId);
        const ref = RunDriver.refOf(entry.value);
        if (ref !== undefined) this.o.runGate?.release(runId, ref);
        return true;
      }
      if (messages.length === 0 && pending) {
        const missing = await this.missingFor(served.plan);
        // Accepted by another coordinator: its start is resolved here, once, from what it kept.
        const start: StartOfRun = { ...resolveRunStart(served.workflow, pending.input, pending.options), ...(pending.parent !== undefined ? { parent: pending.parent } : {}) };
        // Queued (or admitted, not yet begun) by a coordinator that died: it keeps its place, or its place in the queue.
        const admission = this.admissionOf(served.workflow, start);
        if (admission !== undefined && entry.value.runLimit !== undefined) {
          const at = entry.value.runLimit.queuedAt;
          if (!(await this.o.runGate!.requeue(runId, admission, at))) {
            this.queue(served, start, runId, admission, at);
            return true;
          }
        }
        if (missing.length === 0) await this.begin(served.workflow, start, runId);
        else this.waitForWorkers(served, start, runId, missing);
        return true;
      }
      if (messages.length === 0) {
        await this.fail(runId, new UsageError(`run "${runId}" was accepted but neither its start nor its input was recorded`));
        return false;
      }
      const pinned = pinnedPlanHash(messages);
      if (pinned !== undefined && this.o.workflows.byPlan(pinned) === undefined) {
        // Upgraded onto a plan not served here, and its holder died before its summary said so: say so now, and leave it (its lease runs out) to a coordinator serving that plan.
        this.o.logger.warn({ runId, planHash: pinned }, "the run was upgraded onto a plan this coordinator does not serve; left for one that does");
        await this.store.save(summarize(recordOfHistory(messages)));
        this.store.forget(runId);
        return false;
      }
      // In flight: it keeps its place (the lease outlives a takeover; one that lapsed is counted again).
      const ref = RunDriver.refOf(entry.value);
      if (ref !== undefined) await this.o.runGate?.hold(runId, ref);
      this.track(await this.o.engine.resume(served.workflow, messages));
      if (cancelRequested !== undefined) {
        // Accepted by a coordinator while the run's previous holder was gone: applied now, by its new holder.
        this.o.logger.info({ runId, reason: cancelRequested }, "applying the cancel recorded while the run had no live holder");
        await this.cancelHeld(runId, cancelRequested);
      }
      return true;
    } catch (err) {
      this.store.forget(runId);
      if (err instanceof PhaseflowError && !err.retryable) {
        this.unresumable.add(runId);
        this.o.logger.error({ err, runId: runId }, "this coordinator cannot resume the run (left for a coordinator that can, e.g. one serving the run's plan)");
      } else {
        this.o.logger.error({ err, runId: runId }, "could not resume the run; its lease will expire and another try follows");
      }
      return false;
    }
  }

  private lost(runId: string, newOwner: string): void {
    this.o.logger.warn({ runId, newOwner }, "another coordinator took this run over; stop driving it");
    const timer = this.waiting.get(runId);
    if (timer) {
      timer.stop();
      this.waiting.delete(runId);
    }
    this.o.runGate?.forget(runId);
    if (this.handles.delete(runId)) this.o.engine.release(runId);
  }
}
