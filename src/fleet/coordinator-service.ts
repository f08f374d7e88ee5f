/**
 * The coordinator process's body, over NATS. It compiles the workflows it serves,
 * answers `<p>.api.run.start|cancel|get|list|retry|stats` (queue group, zod-validated),
 * drives runs with the same engine as embedded mode (no in-process worker: the fleet
 * runs the tasks) — its decisions go to `<P>_EVENTS`, fenced, and it reads only the
 * reports of the runs it holds — and keeps run summaries, leases and the active and
 * retention indexes in `<p>_runs` (run-driver.ts, run-store.ts, retention.ts).
 *
 * Several coordinators may run side by side: requests are shared by the queue group,
 * each run is driven by the holder of its lease, and a run whose coordinator dies is
 * taken over by another once the lease expires. A cancel that reaches a coordinator
 * not driving the run is forwarded to the one that does.
 *
 * It also serves the schedules and polling sources of its workflows (trigger-service.ts),
 * and honours start keys (start-keys.ts): a second start with one key answers with
 * the first run.
 *
 * Before a run starts it checks that a live worker (from heartbeats) serves every
 * executor the plan needs. If not, by default the run is accepted as `pending` and
 * waits, with a log line naming the missing executors; with `requireWorkers` the
 * request is rejected with `WorkersUnavailableError`.
 */
import { hostname } from "node:os";
import { compile } from "../compiler/compile.js";
import type { Workflow } from "../dsl/workflow.js";
import { RunNotFoundError, UsageError } from "../errors/base.js";
import { indexPlan } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import { defaultIdGenerator, systemClock } from "../support/clock.js";
import { createKvLimitGate, limitStateSchema } from "./kv-limit-gate.js";
import { createEngine, type Engine } from "../embedded/engine.js";
import { versionLabel, WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { createSilentLogger } from "../support/logger.js";
import { resolveRunStart } from "../support/run-options.js";
import { isRunFinished, recordOfHistory, summaryFieldsOf } from "../runtime/core/run-record.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { NatsTransportOptions } from "../transport/nats/options.js";
import { createNatsTransport, type NatsTransport } from "../transport/nats/transport.js";
import { natsNames } from "../transport/nats/names.js";
import { inboxPrefixOf } from "../transport/nats/permissions.js";
import { ApiGate, REPLY_HEADROOM, serveEndpoint, type ApiCounters, type EndpointOptions } from "./api-server.js";
import { LogLimiter } from "../support/log-limiter.js";
import { NoRespondersError, type ApiEndpoint } from "../transport/fleet-port.js";
import {
  cancelRunReplySchema,
  cancelRunRequestSchema,
  getPlanRequestSchema,
  listRunsRequestSchema,
  retryRunRequestSchema,
  signalRunRequestSchema,
  runIdRequestSchema,
  upgradeRunRequestSchema,
  startRunRequestSchema,
} from "./api-schemas.js";
import { PlanHashMismatchError, ReplyTooLargeError, WorkersUnavailableError } from "../errors/fleet.js";
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_STALE_MS, missingExecutors, readLiveWorkers, workerHeartbeatSchema } from "./heartbeat.js";
import { compareNewestFirst, isAfterCursor } from "./run-list-order.js";
import { watchMaxDeliveries } from "./max-deliveries.js";
import { RunDriver } from "./run-driver.js";
import { sendSignal } from "./signal-endpoint.js";
import { coordinatorHeartbeatSchema, readLiveCoordinators, startCoordinatorBeat } from "./coordinator-heartbeat.js";
import { createStartRouter, type ForwardOutcome } from "./start-routing.js";
import { createRunRouter } from "./run-routing.js";
import { createUpgradeEndpoint } from "./upgrade-endpoint.js";
import { readVersions, versionsRequestSchema } from "./versions-report.js";
import { coordinatorWaitOf } from "./run-waits-for.js";
import { routedOp } from "../transport/api-route.js";
import { isPayloadRef } from "../transport/payloads.js";
import { startRetention, DEFAULT_RETENTION_MS } from "./retention.js";
import { claimStartKey, startKeyEntrySchema } from "./start-keys.js";
import { startTriggerService, triggersOf } from "./trigger-service.js";
import { DEFAULT_TASK_SWEEP_MS, startTaskSweeper } from "./task-sweeper.js";
import { coordinatorLimitsReplySchema, limitsReplyOf, queueRows, queuesRequestSchema } from "./queues-report.js";
import { DEFAULT_VANISHED_CHECK_MS, startVanishedTaskWatch } from "./vanished-tasks.js";
import { runStoreKv, type StoredRun } from "./run-store.js";
import { fleetChildRuns } from "./child-runs.js";
import { createKvRunGate, runLimitStateSchema } from "./kv-run-gate.js";
import { childEndedOf } from "../runtime/shell/child-runs.js";
import type { ParentRef } from "../transport/messages.js";

export interface CoordinatorServiceOptions {
  nats: Omit<NatsTransportOptions, "logger">;
  /** The workflows this coordinator serves: several versions of one name included (a start gets the latest unless it asks for one). */
  workflows: readonly Workflow<unknown>[];
  /** Reject runs whose executors no live worker serves, instead of waiting. Default false. */
  requireWorkers?: boolean;
  /** How often a waiting run re-checks the heartbeats. Default 1000 ms. */
  workerPollMs?: number;
  /** How long a run's lease lasts without renewal; another coordinator takes the run over after it. Default 15000 ms. */
  leaseMs?: number;
  /** How long a task limit holding, or a run's place in its workflow's concurrency, lasts without renewal (README "Traffic control"). Default 3 × leaseMs (at least 5000 ms). */
  limitLeaseMs?: number;
  /** Default `<hostname>-<pid>`; a per-process nonce is always appended, so two processes given one id are still two writers. */
  coordinatorId?: string;
  /** How long histories and summaries of finished runs are kept. Default 7 days. */
  retentionMs?: number;
  /** Re-dispatch an attempt without timeoutMs after this long with nothing heard of it. Default 10 minutes. */
  watchdogMs?: number;
  /** Estimated heap bytes of finished runs' records kept in memory to answer `run.get` without reading histories. Default 64 MiB. */
  keepFinishedBytes?: number;
  /** How long a parent run waits on a child before its coordinator reads the child's history for an end that never reached it (runtime/shell/child-watch.ts). Default 30000 ms. */
  childCheckMs?: number;
  /** How often the tasks stream is swept of messages no run can use, and how old they must be (task-sweeper.ts). Default 60000 ms. */
  taskSweepMs?: number;
  /** How often attempts waiting for their start are checked for a task message gone from the stream (vanished-tasks.ts); one gone on two checks is dispatched again. Default 2000 ms. */
  vanishedCheckMs?: number;
  /** Default: silent. */
  logger?: Logger;
}

export interface CoordinatorStats extends ApiCounters {
  /** Task messages deleted because no run can use them (unknown or finished run, bad ids, malformed, exhausted deliveries of such a run). */
  undeliverable: number;
  /** Attempts dispatched again because their task message left the stream with no start and no report (a forged ack; vanished-tasks.ts). */
  vanished: number;
  /** Malformed messages seen: API requests, advisories, and run events on the wire. */
  malformed: number;
  /** Runs this coordinator drives now. */
  runs: number;
  /** Reports of the runs it holds decoded and handed to their runs (each run reads only its own reports). */
  reportsDelivered: number;
  /** Whole-history reads made (concurrent reads of one run share one). */
  historyReads: number;
}

export interface CoordinatorService {
  readonly id: string;
  readonly transport: NatsTransport;
  readonly engine: Engine;
  /** Served workflows by name, with the plan of each one's latest version. */
  readonly plans: ReadonlyMap<string, Plan>;
  /** Every workflow version served, with its plan. */
  readonly catalog: WorkflowCatalog;
  stats(): CoordinatorStats;
  /** Stop answering and driving; leases are given up so another coordinator takes the runs over at once. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Start a coordinator service.
 * @example
 * const svc = await startCoordinatorService({ nats: { servers: url }, workflows: [etl] });
 */
export async function startCoordinatorService(options: CoordinatorServiceOptions): Promise<CoordinatorService> {
  const logger = options.logger ?? createSilentLogger();
  const baseId = (options.coordinatorId ?? `${hostname()}-${process.pid}`).replace(/[^A-Za-z0-9_.-]/g, "_");
  const served = new WorkflowCatalog();
  for (const wf of options.workflows) served.add(wf, compile(wf));
  // Schedules and sources start the latest version of each name: only its triggers are served.
  const triggers = triggersOf(served.names().map((name) => served.find(name)!.workflow));
  for (const pass of triggers.passWorkflows) served.add(pass, compile(pass));
  const transport = await createNatsTransport({
    ...options.nats,
    logger,
    name: options.nats.name ?? `phaseflow-coordinator ${baseId}`,
    inboxPrefix: options.nats.inboxPrefix ?? inboxPrefixOf(natsNames(options.nats.prefix), "coordinator"),
  });
  const leaseMs = options.leaseMs ?? 15_000;
  // Task limits are shared by the fleet: their holdings outlive a run's takeover (2 run leases and then some) before they lapse.
  const limits = createKvLimitGate({ store: transport.store("runs", limitStateSchema), clock: systemClock, log: logger, leaseMs: options.limitLeaseMs ?? Math.max(3 * leaseMs, 5_000) });
  // Child runs go through the fleet's API: any coordinator serving the child's workflow takes it (child-runs.ts).
  const children = fleetChildRuns({ api: transport.api, transport, now: () => Date.now(), log: logger });
  // It knows every version served: a run resumed after an upgrade folds on each plan it was on, and `upgrade` finds its target.
  const engine = createEngine({ transport, worker: false, logger, coordinatorId: baseId, keepHistory: false, childRuns: children, limits, runLimits: false, workflows: served.entries().map((e) => e.workflow) as unknown as Workflow<never>[],
    ...(options.watchdogMs !== undefined ? { watchdogMs: options.watchdogMs } : {}),
    ...(options.keepFinishedBytes !== undefined ? { keepFinishedBytes: options.keepFinishedBytes } : {}),
    ...(options.childCheckMs !== undefined ? { childCheckMs: options.childCheckMs } : {}),
  });
  // The engine's id carries a per-process nonce: two processes given one --id are still two writers and two leaseholders.
  const id = engine.coordinatorId;
  // Runs in flight per key (workflow concurrency), like task limits: places leased in KV, outliving a run's takeover.
  // "cancel-in-progress" cancels through the normal cancel path below (bound once it exists).
  let cancelRun: (runId: string, reason: string) => Promise<void> = () => Promise.reject(new Error("the coordinator is still starting"));
  const runGate = createKvRunGate({ store: transport.store("runs", runLimitStateSchema), clock: systemClock, log: logger, leaseMs: options.limitLeaseMs ?? Math.max(3 * leaseMs, 5_000), cancel: (runId, reason) => cancelRun(runId, reason) });
  const startKeys = transport.store("runs", startKeyEntrySchema);
  const workersKv = transport.store("workers", workerHeartbeatSchema);
  const kv = runStoreKv(transport);
  const driver = new RunDriver({
    id,
    engine,
    transport,
    workflows: served,
    kv,
    workersKv,
    leaseMs,
    workerPollMs: options.workerPollMs ?? 1000,
    logger,
    runGate,
  });
  const counters: ApiCounters = { requests: 0, malformed: 0, errors: 0 };
  const limiter = new LogLimiter(logger);
  // Client-facing endpoints go through one gate (see api-server.ts); the per-coordinator
  // ones (stats, forwarded cancels) do not, so a storm never hides a coordinator's stats
  // and two coordinators forwarding cancels to each other never wait on each other's gate.
  const gated: EndpointOptions = { logger, counters, limiter, gate: new ApiGate() };
  const direct: EndpointOptions = { logger, counters, limiter };
  const taskCounters = { undeliverable: 0, malformed: 0, vanished: 0 };
  const port = transport.api;
  const queue = "coordinators";
  const api = (op: string): string => port.subject(op);
  const subs: ApiEndpoint[] = [];
  const startedAt = Date.now();
  const servedVersions = served.entries().map((e) => ({ workflow: e.workflow.name, version: e.plan.version, planHash: e.plan.planHash }));
  let closed = false;

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

  const start = async (req: Pick<ReturnType<typeof startRunRequestSchema.parse>, "workflow" | "input" | "options" | "planHash" | "version" | "parent">): Promise<object> => {
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
    if (options.requireWorkers) {
      const missing = missingExecutors(indexPlan(entry.plan).executors(), await readLiveWorkers(workersKv, Date.now(), HEARTBEAT_STALE_MS));
      if (missing.length > 0) throw new WorkersUnavailableError(entry.workflow.name, missing);
    }
    try {
      const waitingFor = await driver.accept(entry, { input: runInput, options: runOptions, ...(parent !== undefined ? { parent } : {}) }, runId, startKey);
      return { ok: true, runId, planHash: entry.plan.planHash, version: entry.plan.version, waitingFor };
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
    return runGate.describe(run.runId, { workflow: run.workflow, key: run.runLimit.key, limit: run.runLimit.limit }).catch(() => undefined);
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
  cancelRun = async (runId, reason) => {
    await cancel({ runId, reason });
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

  // Starts and plan requests reach a coordinator serving the workflow version asked for (start-routing.ts).
  const beat = await startCoordinatorBeat(
    transport.store("runs", coordinatorHeartbeatSchema),
    () => ({ coordinatorId: id, host: hostname(), pid: process.pid, served: servedVersions, runs: driver.size, startedAt, intervalMs: HEARTBEAT_INTERVAL_MS, at: Date.now() }),
    logger,
  );
  const forward = async (op: string, body: unknown): Promise<ForwardOutcome> => {
    try {
      return { kind: "reply", body: JSON.parse(decoder.decode(await port.request(op, encoder.encode(JSON.stringify(body)), { timeoutMs: 10_000 }))) as object };
    } catch (err) {
      if (err instanceof NoRespondersError) return { kind: "no-responders" };
      throw err;
    }
  };
  const router = createStartRouter({ served, fleet: () => beat.fleet(), op: routedOp, subject: (op) => port.subject(op), forward });
  // Signals and retries reach a coordinator serving the run's own plan (run-routing.ts); upgrades one serving the target (upgrade-endpoint.ts).
  const runRouter = createRunRouter({ served, store: driver.store, op: routedOp, subject: (op) => port.subject(op), forward });
  const upgrades = createUpgradeEndpoint({ id, served, driver, engine, transport, fleet: () => beat.fleet(), routed: (wf, v) => routedOp("run.upgrade", wf, v), subject: (op) => port.subject(op), forward, now: () => Date.now() });
  const signal = (req: ReturnType<typeof signalRunRequestSchema.parse>): Promise<object> => sendSignal(transport, served, driver.store, req);
  const getPlan = (req: { workflow: string; version?: string | undefined }): Promise<object> => Promise.resolve({ ok: true, plan: served.resolve(req.workflow, req.version).plan });
  subs.push(serveEndpoint(port, "run.start", queue, startRunRequestSchema, (req) => router.route("run.start", req, start), gated));
  subs.push(serveEndpoint(port, "plan.get", queue, getPlanRequestSchema, (req) => router.route("plan.get", req, getPlan), direct));
  for (const name of served.names()) {
    subs.push(serveEndpoint(port, routedOp("run.start", name), queue, startRunRequestSchema, (req) => router.route("run.start", req, start), gated));
    subs.push(serveEndpoint(port, routedOp("plan.get", name), queue, getPlanRequestSchema, (req) => router.route("plan.get", req, getPlan), direct));
    for (const version of served.versionsOf(name)) {
      subs.push(serveEndpoint(port, routedOp("run.start", name, version), queue, startRunRequestSchema, (req) => start({ ...req, version }), gated));
      subs.push(serveEndpoint(port, routedOp("plan.get", name, version), queue, getPlanRequestSchema, (req) => getPlan({ ...req, version }), direct));
      subs.push(serveEndpoint(port, routedOp("run.signal", name, version), queue, signalRunRequestSchema, signal, gated));
      subs.push(serveEndpoint(port, routedOp("run.retry", name, version), queue, retryRunRequestSchema, retry, gated));
      subs.push(serveEndpoint(port, routedOp("run.upgrade", name, version), queue, upgradeRunRequestSchema, (req) => upgrades.answer(req, true), gated));
    }
  }
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
    const waiting = coordinatorWaitOf(record, beat.fleet()) ?? record.waitingFor;
    return { ok: true, record, ...(waiting !== undefined ? { waiting } : {}) };
  };
  subs.push(serveEndpoint(port, "run.get", queue, runIdRequestSchema, get, gated));
  subs.push(serveEndpoint(port, "run.cancel", queue, cancelRunRequestSchema, cancel, gated));
  subs.push(serveEndpoint(port, "run.retry", queue, retryRunRequestSchema, (req) => runRouter.route("run.retry", req, retry), gated));
  subs.push(serveEndpoint(port, "run.signal", queue, signalRunRequestSchema, (req) => runRouter.route("run.signal", req, signal), gated));
  subs.push(serveEndpoint(port, "run.upgrade", queue, upgradeRunRequestSchema, (req) => upgrades.answer(req, false), gated));
  // Upgrades forwarded to this coordinator as the run's holder (no queue group: only we listen here).
  subs.push(serveEndpoint(port, `coordinator.${id}.upgrade`, undefined, upgradeRunRequestSchema, (req) => upgrades.asHolder(req), direct));
  subs.push(serveEndpoint(port, "run.versions", queue, versionsRequestSchema, async () => ({ ok: true, versions: await readVersions(transport, Date.now(), logger) }), gated));
  // `phaseflow queues`: this coordinator's limits and waiting attempts (no queue group: asked by name), and the fleet's table gathered from all.
  subs.push(serveEndpoint(port, `coordinator.${id}.limits`, undefined, queuesRequestSchema, () => Promise.resolve(limitsReplyOf(limits.uses())), direct));
  subs.push(
    serveEndpoint(
      port,
      "run.queues",
      queue,
      queuesRequestSchema,
      async () => {
        const known = [limitsReplyOf(limits.uses()).limits];
        const unanswered: string[] = [];
        // Read afresh: the view of the last beat misses a coordinator that started since.
        const others = (await readLiveCoordinators(transport.store("runs", coordinatorHeartbeatSchema), Date.now(), logger)).filter((c) => c.coordinatorId !== id);
        await Promise.all(
          others.map(async (c) => {
            try {
              const reply = coordinatorLimitsReplySchema.parse(JSON.parse(decoder.decode(await port.request(`coordinator.${c.coordinatorId}.limits`, encoder.encode("{}"), { timeoutMs: 3_000 }))));
              if (reply.ok) known.push(reply.limits);
              else unanswered.push(c.coordinatorId);
            } catch (err) {
              logger.debug({ err, coordinator: c.coordinatorId }, "a coordinator did not tell its task limits for queues");
              unanswered.push(c.coordinatorId);
            }
          }),
        );
        return { ok: true, rows: await queueRows(known, transport.store("runs", limitStateSchema), Date.now(), logger), unanswered: unanswered.sort() };
      },
      gated,
    ),
  );
  // Cancels forwarded to this coordinator by name (no queue group: only we listen here).
  subs.push(
    serveEndpoint(
      port,
      `coordinator.${id}.cancel`,
      undefined,
      cancelRunRequestSchema,
      async ({ runId, reason }) => {
        const status = await driver.cancelHeld(runId, reason ?? "cancelled by request");
        if (status === undefined) throw new RunNotFoundError(runId);
        return { ok: true, runId, status };
      },
      direct,
    ),
  );
  subs.push(
    serveEndpoint(
      port,
      "run.list",
      queue,
      listRunsRequestSchema,
      async ({ limit, status, workflow, parent, before }) => {
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
            const waiting = coordinatorWaitOf(r, beat.fleet()) ?? (await runLimitWaitOf(r));
            return { ...summaryFieldsOf(r, { error: false }), ...(waiting !== undefined ? { waiting } : {}) };
          }),
        );
        // Summaries carry no outputs, but 10,000 of them may still exceed one message: keep the newest that fit.
        const room = port.maxPayload - REPLY_HEADROOM - 64;
        let bytes = 0;
        let fit = 0;
        while (fit < rows.length && (bytes += encoder.encode(JSON.stringify(rows[fit])).length + 1) <= room) fit++;
        return fit < rows.length ? { ok: true, runs: rows.slice(0, fit), truncated: true } : { ok: true, runs: rows };
      },
      gated,
    ),
  );
  const stats = (): CoordinatorStats => ({ ...counters, malformed: counters.malformed + taskCounters.malformed + transport.stats().malformed, undeliverable: taskCounters.undeliverable, vanished: taskCounters.vanished, runs: driver.size, reportsDelivered: transport.stats().reportsDelivered ?? 0, historyReads: transport.stats().historyReads ?? 0 });
  subs.push(serveEndpoint(port, `coordinator.${id}.stats`, undefined, runIdRequestSchema.partial(), () => Promise.resolve({ ok: true, id, ...stats() }), direct));
  subs.push(watchMaxDeliveries(transport, id, logger, counters, { kv, counters: taskCounters }));
  await port.flush();
  await driver.startBackground();
  const triggerLoop = await startTriggerService({
    transport,
    served: triggers.served,
    driver,
    logger,
    start: (workflow, input, opts) => start({ workflow, input, options: opts }) as Promise<{ runId: string; existing?: boolean }>,
  });
  const retention = startRetention({ transport, kv, retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS, logger });
  const sweeper = startTaskSweeper({ transport, kv, sweepMs: options.taskSweepMs ?? DEFAULT_TASK_SWEEP_MS, logger, counters: taskCounters });
  const vanished = startVanishedTaskWatch({ transport, engine, runIds: () => driver.runIds(), checkMs: options.vanishedCheckMs ?? DEFAULT_VANISHED_CHECK_MS, logger, counters: taskCounters });
  logger.info({ coordinatorId: id, workflows: served.describe(), prefix: transport.names.prefix }, "coordinator started");

  return {
    id,
    transport,
    engine,
    plans: new Map(served.names().map((name) => [name, served.find(name)!.plan])),
    catalog: served,
    stats,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of subs) s.stop();
      await beat.stop();
      limiter.flush();
      triggerLoop?.stop();
      await triggerLoop?.idle();
      children.close();
      retention.stop();
      sweeper.stop();
      vanished.stop();
      await driver.close(() => engine.close());
      limits.close();
      runGate.close();
      await transport.close();
      logger.info({ coordinatorId: id }, "coordinator stopped");
    },
  };
}
