/**
 * The answers of a coordinator to the run API (`<p>.api.run.*`): start, get, list, cancel
 * (applied here, recorded and forwarded to the run's holder, or applied on a takeover)
 * and retry. The coordinator (coordinator-service.ts) serves them on its endpoints and
 * routes each request to a coordinator that serves the run's workflow version first.
 */
import { RunNotFoundError, UsageError } from "../errors/base.js";
import { PlanHashMismatchError, ReplyTooLargeError, WorkersUnavailableError } from "../errors/fleet.js";
import type { Engine } from "../embedded/engine.js";
import { versionLabel, type WorkflowCatalog } from "../embedded/workflow-catalog.js";
import type { Logger } from "../registry/types.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import { isRunFinished, recordOfHistory, summaryFieldsOf } from "../runtime/core/run-record.js";
import { childEndedOf } from "../runtime/shell/child-runs.js";
import { defaultIdGenerator } from "../support/clock.js";
import { resolveRunStart } from "../support/run-options.js";
import type { FleetTransport, TypedKv } from "../transport/fleet-port.js";
import type { ParentRef } from "../transport/messages.js";
import { isPayloadRef, type Payloads } from "../transport/payloads.js";
import { REPLY_HEADROOM } from "./api-server.js";
import type { cancelRunRequestSchema, listRunsRequestSchema, retryRunRequestSchema, startRunRequestSchema } from "./api-schemas.js";
import { cancelRunReplySchema } from "./api-schemas.js";
import type { CoordinatorHeartbeat } from "./coordinator-heartbeat.js";
import { missingWorkersFor, type WorkerHeartbeat } from "./heartbeat.js";
import type { RunDriver } from "./run-driver.js";
import { compareNewestFirst, isAfterCursor } from "./run-list-order.js";
import type { KvRunGate } from "./kv-run-gate.js";
import type { RunStoreKv, StoredRun } from "./run-store.js";
import { coordinatorWaitOf } from "./run-waits-for.js";
import { claimStartKey, type StartKeyEntry } from "./start-keys.js";

export interface RunApiDeps {
  /** This coordinator's id (with its per-process nonce). */
  id: string;
  served: WorkflowCatalog;
  driver: RunDriver;
  engine: Engine;
  transport: FleetTransport & { readonly payloads: Payloads };
  kv: RunStoreKv;
  startKeys: TypedKv<StartKeyEntry>;
  workersKv: TypedKv<WorkerHeartbeat>;
  /** Runs in flight per key of workflows with `concurrency` (kv-run-gate.ts): what a queued run waits for. */
  runGate: KvRunGate;
  /** Reject a start whose executors no live worker serves, instead of accepting it pending. */
  requireWorkers: boolean;
  /** The live coordinators, as their heartbeats say (to tell why a run waits). */
  fleet: () => readonly CoordinatorHeartbeat[];
  logger: Logger;
}

type StartRequest = Pick<ReturnType<typeof startRunRequestSchema.parse>, "workflow" | "input" | "options" | "planHash" | "version" | "parent">;

export interface RunApi {
  start: (req: StartRequest) => Promise<object>;
  get: (req: { runId: string }) => Promise<object>;
  list: (req: ReturnType<typeof listRunsRequestSchema.parse>) => Promise<object>;
  cancel: (req: ReturnType<typeof cancelRunRequestSchema.parse>) => Promise<object>;
  /** A cancel forwarded to this coordinator as the run's holder. */
  cancelHeld: (req: ReturnType<typeof cancelRunRequestSchema.parse>) => Promise<object>;
  retry: (req: ReturnType<typeof retryRunRequestSchema.parse>) => Promise<object>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The run API's answers, over the coordinator's driver and engine.
 * @example const api = createRunApi(deps); serveEndpoint(port, "run.get", queue, runIdRequestSchema, api.get, gated);
 */
export function createRunApi(d: RunApiDeps): RunApi {
  const { id, served, driver, engine, transport, kv, startKeys, workersKv, logger } = d;
  const port = transport.api;
  const api = (op: string): string => port.subject(op);

  /**
   * A child run asked for again (its parent was resumed, or two asks raced): start nothing,
   * and when it has ended store its end on the parent again (the parent may have missed it).
   * True when the run exists.
   */
  const childExists = async (runId: string, parent: ParentRef): Promise<boolean> => {
    if (driver.handle(runId) !== undefined) return true;
    if ((await driver.store.get(runId)) === undefined) return false;
    const { messages } = await transport.readHistory(runId);
    if (messages.length === 0) return true; // accepted, not begun: its holder (or a takeover) starts it
    const record = recordOfHistory(messages);
    if (isRunFinished(record)) await transport.appendChildEnd(childEndedOf(record, parent.runId, Date.now()));
    return true;
  };

  /**
   * A keyed start answered with the run its key started before: the input the client stored
   * as a payload for the run id it asked for (`askedId`, a run that never exists) is released,
   * or nothing would ever release it. Never the payloads of a run that does exist under that id.
   */
  const releaseUnstarted = async (askedId: string | undefined, runId: string, input: unknown): Promise<void> => {
    if (askedId === undefined || askedId === runId || !isPayloadRef(input)) return;
    try {
      if ((await driver.store.get(askedId)) !== undefined) return;
      await transport.payloads.release(askedId);
    } catch (err) {
      logger.warn({ err, runId: askedId }, "could not release the input payload of a start its key answered with an existing run");
    }
  };

  const start = async (req: StartRequest): Promise<object> => {
    const entry = served.resolve(req.workflow, req.version);
    if (req.planHash !== undefined && req.planHash !== entry.plan.planHash) throw new PlanHashMismatchError(req.workflow, entry.plan.planHash, req.planHash);
    // Resolved once, here (a bad input is an error reply rather than a pending run); the engine starts it as resolved.
    // An input sent as a payload reference is checked by its value; the run keeps the reference unless the schema changed the value.
    const input = isPayloadRef(req.input) ? await transport.payloads.resolve(req.input) : req.input;
    const resolved = resolveRunStart(entry.workflow, input, req.options);
    const runInput = input !== req.input && JSON.stringify(resolved.input) === JSON.stringify(input) ? req.input : resolved.input;
    const { runId: askedId, key, ...runOptions } = resolved.options;
    let runId = askedId ?? defaultIdGenerator();
    const { parent } = req;
    if (parent !== undefined && (await childExists(runId, parent))) return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor: [], existing: true };
    let startKey: string | undefined;
    if (key !== undefined) {
      const claim = await claimStartKey(startKeys, req.workflow, key, runId, Date.now());
      runId = claim.runId;
      startKey = claim.kvKey;
      // Claimed before: the run exists (or its claimer is creating it; then creating it here too lands on one run).
      if (!claim.created && (await driver.store.get(runId)) !== undefined) {
        await releaseUnstarted(askedId, runId, req.input);
        return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor: [], existing: true };
      }
    }
    if (d.requireWorkers) {
      const missing = await missingWorkersFor(workersKv, entry.plan, Date.now());
      if (missing.length > 0) throw new WorkersUnavailableError(entry.workflow.name, missing);
    }
    try {
      const { waitingFor, queued: runLimit } = await driver.accept(entry, { input: runInput, options: runOptions, ...(parent !== undefined ? { parent } : {}) }, runId, startKey);
      // Queued by the workflow's concurrency: what for, as its record says it ("queued: workflow limit ..."), unless it has its place already.
      const queued = runLimit === undefined ? undefined : await runLimitWaitOf({ runId, workflow: entry.workflow.name, status: "pending", runLimit });
      return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor, ...(queued !== undefined ? { queued } : {}) };
    } catch (err) {
      // Two asks for one child racing: the one whose create lost answers with the run the other created.
      if (parent !== undefined && (await driver.store.get(runId).catch(() => undefined)) !== undefined) return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor: [], existing: true };
      // Two starts of one key racing: the one whose create of the run lost answers with the run the other created.
      if (startKey !== undefined && (await driver.store.get(runId).catch(() => undefined)) !== undefined) {
        await releaseUnstarted(askedId, runId, req.input);
        return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor: [], existing: true };
      }
      throw err;
    }
  };

  /** What a pending run of a workflow with `concurrency` waits for, read from its limit now; undefined once it has its place. */
  const runLimitWaitOf = async (run: Pick<StoredRun, "runId" | "workflow" | "status" | "runLimit">): Promise<string | undefined> => {
    if (run.status !== "pending" || run.runLimit === undefined) return undefined;
    return d.runGate.describe(run.runId, { workflow: run.workflow, key: run.runLimit.key, limit: run.runLimit.limit }).catch(() => undefined);
  };

  /** The full record: from memory when this coordinator drives the run, else rebuilt from the event history. */
  const recordOf = async (runId: string): Promise<RunRecord> => {
    const handle = driver.handle(runId);
    if (handle) return handle.status();
    // A run that finished here lately: its record is still in memory (within keepFinishedBytes),
    // good while its summary says the same (not retried elsewhere since).
    const kept = engine.get(runId);
    if (kept && isRunFinished(kept)) {
      const summary = (await driver.store.get(runId))?.value;
      if (summary?.status === kept.status && summary.finishedAt === kept.finishedAt) return kept;
    }
    const { messages } = await transport.readHistory(runId);
    if (messages.length > 0) return recordOfHistory(messages);
    const stored = (await driver.store.get(runId))?.value;
    if (stored) {
      // Not started yet: a queued run says what it waits for (kv-run-gate.ts).
      const waitingFor = stored.status === "pending" ? await runLimitWaitOf(stored) : undefined;
      return { runId, workflow: stored.workflow, version: stored.version, planHash: stored.planHash, status: stored.status, ...(waitingFor !== undefined ? { waitingFor } : {}), states: [], tasks: [] };
    }
    throw new RunNotFoundError(runId);
  };

  /**
   * Cancel: applied here when this coordinator holds the run; otherwise recorded on the
   * run's KV entry first (durable at once, no lease needed), then handed to the run's
   * holder. If the holder is gone the request stays recorded, and whoever takes the run
   * over applies it (run-driver.ts): the reply then says the run is still running.
   */
  const cancel = async ({ runId, reason }: { runId: string; reason?: string | undefined }): Promise<object> => {
    const why = reason ?? "cancelled by request";
    const held = await driver.cancelHeld(runId, why);
    if (held !== undefined) return { ok: true, runId, status: held };
    const entry = await driver.store.requestCancel(runId, why);
    if (!entry) {
      // No KV entry (pruned, or written by an older version): the history decides.
      const record = await recordOf(runId);
      if (isRunFinished(record)) return { ok: true, runId, status: record.status };
      throw new RunNotFoundError(runId);
    }
    if (isRunFinished(entry.value)) return { ok: true, runId, status: entry.value.status };
    // Its holder is gone for good: take it over now (the recorded cancel is applied on adoption).
    if (await driver.adoptIfOrphaned(runId)) {
      const status = driver.handle(runId)?.summary().status ?? (await driver.store.get(runId))?.value.status ?? "cancelled";
      return { ok: true, runId, status };
    }
    if (entry.value.coordinator === id) return { ok: true, runId, status: entry.value.status, requested: true };
    logger.info({ runId, owner: entry.value.coordinator }, "cancel recorded and forwarded to the coordinator driving the run");
    try {
      const reply = await port.request(`coordinator.${entry.value.coordinator}.cancel`, encoder.encode(JSON.stringify({ runId, reason: why })), { timeoutMs: 5_000 });
      const parsed = cancelRunReplySchema.parse(JSON.parse(decoder.decode(reply)));
      if (parsed.ok) return parsed;
      logger.warn({ runId, owner: entry.value.coordinator, error: parsed.error }, "the run's holder did not apply the cancel; it stays recorded");
    } catch (err) {
      // The holder died (or is cut off) before its lease ran out: the recorded request waits for the next holder.
      logger.warn({ err, runId, owner: entry.value.coordinator }, "the run's holder did not answer; the cancel stays recorded and its next holder applies it");
    }
    return { ok: true, runId, status: entry.value.status, requested: true };
  };

  const retry = async ({ runId, from }: ReturnType<typeof retryRunRequestSchema.parse>): Promise<object> => {
    // Refusals that need no history first: a run driven here and not failed, or one whose
    // KV entry says it is not failed (the driver insists on both too), is refused without
    // reading its whole history, so a storm of retries of a finished or re-running run
    // costs nothing or one KV read each. A run held here may have failed a moment ago with
    // its entry not yet saved: the driver waits for that.
    const held = driver.handle(runId);
    if (held !== undefined) {
      if (held.summary().status !== "failed") throw new UsageError(`run "${runId}" is already being driven (a retry is under way)`);
    } else {
      const stored = (await driver.store.get(runId))?.value;
      if (stored !== undefined && stored.status !== "failed") throw new UsageError(`run "${runId}" is ${stored.status}; only a failed run can be retried`);
    }
    const { messages } = await transport.readHistory(runId);
    if (messages.length === 0) throw new RunNotFoundError(runId);
    const record = recordOfHistory(messages);
    // The run's own plan, whatever the latest version is.
    const entry = served.byPlan(record.planHash);
    if (!entry) throw new UsageError(`this coordinator does not serve ${versionLabel(record.workflow, record.version)} (plan ${record.planHash.slice(0, 12)}) of run "${runId}"; retry it where that version is served`);
    if (record.status !== "failed") throw new UsageError(`run "${runId}" is ${record.status}; only a failed run can be retried`);
    await driver.retry(entry.workflow, runId, messages, from);
    return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor: [] };
  };

  /** A record of this many tasks cannot fit one reply (a task takes well over 100 bytes): say so before reading its history. */
  const surelyTooLarge = (tasks: number): number | undefined => {
    const limit = port.maxPayload - REPLY_HEADROOM;
    return tasks * 100 > limit ? limit : undefined;
  };

  const get = async ({ runId }: { runId: string }): Promise<object> => {
    // A held run counts its tasks without building their records (a big map's instances are columns).
    const held = driver.handle(runId);
    const total = held ? held.summary().tasks.total : (await driver.store.get(runId))?.value.tasks.total;
    const limit = total !== undefined ? surelyTooLarge(total) : undefined;
    if (total !== undefined && limit !== undefined) throw new ReplyTooLargeError(api("run.get"), total * 100, limit);
    const record = await recordOf(runId);
    const waiting = coordinatorWaitOf(record, d.fleet()) ?? record.waitingFor;
    return { ok: true, record, ...(waiting !== undefined ? { waiting } : {}) };
  };

  const list = async ({ limit, status, workflow, parent, before }: ReturnType<typeof listRunsRequestSchema.parse>): Promise<object> => {
    const at = (r: { startedAt?: number | undefined; updatedAt: number }): number => r.startedAt ?? r.updatedAt;
    // A key listing may yield a key again when it is written while listed: once each.
    const runs = (await Promise.all([...new Set(await kv.runs.keys("run.>"))].map((k) => kv.runs.get(k))))
      .flatMap((e) => (e ? [e.value] : []))
      .filter((r) => (status === undefined || r.status === status) && (workflow === undefined || r.workflow === workflow) && (parent === undefined || r.parent === parent))
      .filter((r) => before === undefined || isAfterCursor({ at: at(r), runId: r.runId }, before))
      .sort((a, b) => compareNewestFirst({ at: at(a), runId: a.runId }, { at: at(b), runId: b.runId }))
      .slice(0, limit);
    const rows = await Promise.all(
      runs.map(async (r) => {
        const waiting = coordinatorWaitOf(r, d.fleet()) ?? (await runLimitWaitOf(r));
        return { ...summaryFieldsOf(r, { error: false }), ...(waiting !== undefined ? { waiting } : {}) };
      }),
    );
    // Summaries carry no outputs, but 10,000 of them may still exceed one message: keep the newest that fit.
    const room = port.maxPayload - REPLY_HEADROOM - 64;
    let bytes = 0;
    let fit = 0;
    while (fit < rows.length && (bytes += encoder.encode(JSON.stringify(rows[fit])).length + 1) <= room) fit++;
    return fit < rows.length ? { ok: true, runs: rows.slice(0, fit), truncated: true } : { ok: true, runs: rows };
  };

  const cancelHeld = async ({ runId, reason }: ReturnType<typeof cancelRunRequestSchema.parse>): Promise<object> => {
    const status = await driver.cancelHeld(runId, reason ?? "cancelled by request");
    if (status === undefined) throw new RunNotFoundError(runId);
    return { ok: true, runId, status };
  };

  return { start, get, list, cancel, cancelHeld, retry };
}
