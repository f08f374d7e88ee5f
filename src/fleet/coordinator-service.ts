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
 * Its answers to the run API are run-api.ts; this file composes the coordinator and
 * serves them. It also serves the schedules and polling sources of its workflows (trigger-service.ts),
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
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import { systemClock } from "../support/clock.js";
import { createKvLimitGate, limitStateSchema } from "./kv-limit-gate.js";
import { createEngine, type Engine } from "../embedded/engine.js";
import { WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { createSilentLogger } from "../support/logger.js";
import type { NatsTransportOptions } from "../transport/nats/options.js";
import { createNatsTransport, type NatsTransport } from "../transport/nats/transport.js";
import { natsNames } from "../transport/nats/names.js";
import { inboxPrefixOf } from "../transport/nats/permissions.js";
import { ApiGate, serveEndpoint, type ApiCounters, type EndpointOptions } from "./api-server.js";
import { LogLimiter } from "../support/log-limiter.js";
import { NoRespondersError, type ApiEndpoint } from "../transport/fleet-port.js";
import {
  cancelRunRequestSchema,
  getPlanRequestSchema,
  listRunsRequestSchema,
  retryRunRequestSchema,
  signalRunRequestSchema,
  runIdRequestSchema,
  upgradeRunRequestSchema,
  startRunRequestSchema,
} from "./api-schemas.js";
import { HEARTBEAT_INTERVAL_MS, workerHeartbeatSchema } from "./heartbeat.js";
import { watchMaxDeliveries } from "./max-deliveries.js";
import { RunDriver } from "./run-driver.js";
import { createRunApi } from "./run-api.js";
import { sendSignal } from "./signal-endpoint.js";
import { coordinatorHeartbeatSchema, readLiveCoordinators, startCoordinatorBeat } from "./coordinator-heartbeat.js";
import { createStartRouter, type ForwardOutcome } from "./start-routing.js";
import { createRunRouter } from "./run-routing.js";
import { createUpgradeEndpoint } from "./upgrade-endpoint.js";
import { readVersions, versionsRequestSchema } from "./versions-report.js";
import { routedOp } from "../transport/api-route.js";
import { startRetention, DEFAULT_RETENTION_MS } from "./retention.js";
import { startKeyEntrySchema } from "./start-keys.js";
import { startTriggerService, triggersOf } from "./trigger-service.js";
import { DEFAULT_TASK_SWEEP_MS, startTaskSweeper } from "./task-sweeper.js";
import { coordinatorLimitsReplySchema, limitsReplyOf, queueRows, queuesRequestSchema } from "./queues-report.js";
import { DEFAULT_VANISHED_CHECK_MS, startVanishedTaskWatch } from "./vanished-tasks.js";
import { runStoreKv } from "./run-store.js";
import { fleetChildRuns } from "./child-runs.js";
import { createKvRunGate, runLimitStateSchema } from "./kv-run-gate.js";

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
  const subs: ApiEndpoint[] = [];
  const startedAt = Date.now();
  const servedVersions = served.entries().map((e) => ({ workflow: e.workflow.name, version: e.plan.version, planHash: e.plan.planHash }));
  let closed = false;

  // The run API's answers (run-api.ts); the heartbeats below tell them which coordinators are live.
  const runApi = createRunApi({ id, served, driver, engine, transport, kv, startKeys, workersKv, runGate, requireWorkers: options.requireWorkers ?? false, fleet: () => beat.fleet(), logger });
  const { start, get, cancel, retry } = runApi;
  cancelRun = async (runId, reason) => {
    await cancel({ runId, reason });
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
  subs.push(serveEndpoint(port, `coordinator.${id}.cancel`, undefined, cancelRunRequestSchema, runApi.cancelHeld, direct));
  subs.push(serveEndpoint(port, "run.list", queue, listRunsRequestSchema, runApi.list, gated));
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
