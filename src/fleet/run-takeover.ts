/**
 * Taking over a run whose coordinator stopped renewing its lease (or one this coordinator
 * held before a restart). The driver's orphan scan finds them (run-driver.ts); this file
 * says which runs are orphans to this coordinator, and what a won takeover does with the
 * run's stored history: record a cancel that came before its start, start a run accepted
 * by another coordinator from the start it kept, leave a run upgraded onto a plan not served
 * here, or resume it (`engine.resume`: the live code path) and apply a recorded cancel.
 */
import { PhaseflowError, UsageError } from "../errors/base.js";
import type { CatalogEntry, WorkflowCatalog } from "../embedded/workflow-catalog.js";
import type { Engine } from "../embedded/engine.js";
import type { Logger } from "../registry/types.js";
import { pinnedPlanHash } from "../runtime/core/pinned-plan.js";
import { recordOfHistory } from "../runtime/core/run-record.js";
import type { RunHandle } from "../runtime/shell/run-handle.js";
import type { Clock } from "../support/clock.js";
import { resolveRunStart, type ResolvedRunStart } from "../support/run-options.js";
import type { TypedEntry } from "../transport/fleet-port.js";
import type { ParentRef } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import { endedUnstarted, isUnfinished, summarize, type RunStore, type StoredRun } from "./run-store.js";

/** A run's resolved start, and its parent when it is a child run. */
export type StartOfRun = ResolvedRunStart & { parent?: ParentRef | undefined };

export interface TakeoverDeps {
  /** This coordinator's id. */
  id: string;
  engine: Engine;
  transport: Transport;
  workflows: WorkflowCatalog;
  store: RunStore;
  clock: Clock;
  logger: Logger;
}

/** What a takeover asks of the driver that holds the runs. */
export interface TakeoverHost {
  /** The run is driven, waits for workers, is being started or was given up on here. */
  knows(runId: string): boolean;
  /** Start the run now, or once workers for its executors are live (a run of a workflow with `concurrency`: once it has its place, kv-run-gate.ts). */
  startOrWait(served: CatalogEntry, start: StartOfRun, runId: string, run: StoredRun): Promise<void>;
  /** A run in flight taken over keeps its place in its workflow's concurrency. */
  keepPlace(run: StoredRun): Promise<void>;
  /** A run that ended before it started gives its place (or queue entry) back. */
  givePlaceBack(run: StoredRun): void;
  /** Drive the run's handle: keep its summary saved until it ends. */
  track(handle: RunHandle): void;
  cancelHeld(runId: string, reason: string): Promise<unknown>;
  /** End a run this coordinator cannot drive (run-failure.ts). */
  fail(runId: string, err: unknown): Promise<void>;
  /** Leave the run to another coordinator (one that can resume it). */
  giveUp(runId: string): void;
}

/**
 * Whether this coordinator should take the run over: unfinished, not known here, its plan
 * served here (a run is pinned to its plan: run-waits-for.ts), and its lease expired or
 * held by this coordinator's id before a restart.
 */
export function isOrphan(entry: TypedEntry<StoredRun>, d: TakeoverDeps, host: TakeoverHost): boolean {
  const run = entry.value;
  if (!isUnfinished(run) || host.knows(run.runId)) return false;
  if (d.workflows.byPlan(run.planHash) === undefined) return false;
  return run.leaseUntil < d.clock.now() || run.coordinator === d.id;
}

/** Claim the run (compare-and-set on its entry) and carry it on; true when this coordinator now holds it. */
export async function takeOver(entry: TypedEntry<StoredRun>, d: TakeoverDeps, host: TakeoverHost): Promise<boolean> {
  const runId = entry.value.runId;
  const previous = entry.value.coordinator;
  const served = d.workflows.byPlan(entry.value.planHash);
  if (served === undefined) return false;
  if (!(await d.store.takeOver(entry))) return false;
  d.logger.warn({ runId: runId, previous }, "took over a run whose coordinator stopped renewing its lease");
  const cancelRequested = entry.value.cancelRequested;
  try {
    const pending = entry.value.pendingStart;
    const { messages } = await d.transport.readHistory(runId);
    if (messages.length === 0 && pending && cancelRequested !== undefined) {
      // Cancelled before it ever started: nothing to run, nothing to stop.
      d.logger.info({ runId, reason: cancelRequested }, "a run cancelled before it started is recorded cancelled");
      await d.store.save(endedUnstarted(entry.value, { status: "cancelled", finishedAt: d.clock.now() }));
      d.store.forget(runId);
      host.givePlaceBack(entry.value);
      return true;
    }
    if (messages.length === 0 && pending) {
      // Accepted by another coordinator: its start is resolved here, once, from what it kept.
      const start: StartOfRun = { ...resolveRunStart(served.workflow, pending.input, pending.options), ...(pending.parent !== undefined ? { parent: pending.parent } : {}) };
      await host.startOrWait(served, start, runId, entry.value);
      return true;
    }
    if (messages.length === 0) {
      await host.fail(runId, new UsageError(`run "${runId}" was accepted but neither its start nor its input was recorded`));
      return false;
    }
    const pinned = pinnedPlanHash(messages);
    if (pinned !== undefined && d.workflows.byPlan(pinned) === undefined) {
      // Upgraded onto a plan not served here, and its holder died before its summary said so: say so now, and leave it (its lease runs out) to a coordinator serving that plan.
      d.logger.warn({ runId, planHash: pinned }, "the run was upgraded onto a plan this coordinator does not serve; left for one that does");
      await d.store.save(summarize(recordOfHistory(messages)));
      d.store.forget(runId);
      return false;
    }
    await host.keepPlace(entry.value);
    host.track(await d.engine.resume(served.workflow, messages));
    if (cancelRequested !== undefined) {
      // Accepted by a coordinator while the run's previous holder was gone: applied now, by its new holder.
      d.logger.info({ runId, reason: cancelRequested }, "applying the cancel recorded while the run had no live holder");
      await host.cancelHeld(runId, cancelRequested);
    }
    return true;
  } catch (err) {
    d.store.forget(runId);
    if (err instanceof PhaseflowError && !err.retryable) {
      host.giveUp(runId);
      d.logger.error({ err, runId: runId }, "this coordinator cannot resume the run (left for a coordinator that can, e.g. one serving the run's plan)");
    } else {
      d.logger.error({ err, runId: runId }, "could not resume the run; its lease will expire and another try follows");
    }
    return false;
  }
}
