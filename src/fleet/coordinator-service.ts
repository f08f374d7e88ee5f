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
 * Before a run starts it checks that a live worker (from heartbeats) serves every
 * executor the plan needs. If not, by default the run is accepted as `pending` and
 * waits, with a log line naming the missing executors; with `requireWorkers` the
 * request is rejected with `WorkersUnavailableError`.
 */
import { hostname } from "node:os";
import type { Subscription as NatsSubscription } from "@nats-io/transport-node";
import { compile } from "../compiler/compile.js";
import type { Workflow } from "../dsl/workflow.js";
import { InputValidationError, RunNotFoundError, UsageError } from "../errors/base.js";
import { deserializeError } from "../errors/serialize.js";
import { indexPlan } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import { defaultIdGenerator } from "../runtime/clock.js";
import { createEngine, type Engine } from "../runtime/engine.js";
import { createSilentLogger } from "../runtime/logger.js";
import { runOptionsSchema } from "../runtime/run-options.js";
import { isRunFinished, recordOfHistory } from "../runtime/run-record.js";
import type { RunRecord } from "../runtime/run-record-schema.js";
import type { NatsTransportOptions } from "../transport/nats/options.js";
import { createNatsTransport, type NatsTransport } from "../transport/nats/transport.js";
import { typedKv } from "../transport/nats/typed-kv.js";
import { serveEndpoint, type ApiCounters } from "./api-server.js";
import {
  cancelRunReplySchema,
  cancelRunRequestSchema,
  getPlanRequestSchema,
  listRunsRequestSchema,
  retryRunRequestSchema,
  signalRunRequestSchema,
  runIdRequestSchema,
  startRunRequestSchema,
  type RunSummary,
} from "./api-schemas.js";
import { PlanHashMismatchError, WorkersUnavailableError } from "./errors.js";
import { HEARTBEAT_STALE_MS, missingExecutors, readLiveWorkers, workerHeartbeatSchema } from "./heartbeat.js";
import { compareNewestFirst, isAfterCursor } from "./run-list-order.js";
import { watchMaxDeliveries } from "./max-deliveries.js";
import { RunDriver } from "./run-driver.js";
import { sendSignal } from "./signal-endpoint.js";
import { startRetention, DEFAULT_RETENTION_MS } from "./retention.js";
import { DEFAULT_TASK_SWEEP_MS, startTaskSweeper } from "./task-sweeper.js";
import { activeMarkSchema, doneMarkSchema, storedRunSchema, type RunStoreKv } from "./run-store.js";

export interface CoordinatorServiceOptions {
  nats: Omit<NatsTransportOptions, "logger">;
  /** The workflows this coordinator serves (by name). */
  workflows: readonly Workflow<unknown>[];
  /** Reject runs whose executors no live worker serves, instead of waiting. Default false. */
  requireWorkers?: boolean;
  /** How often a waiting run re-checks the heartbeats. Default 1000 ms. */
  workerPollMs?: number;
  /** How long a run's lease lasts without renewal; another coordinator takes the run over after it. Default 15000 ms. */
  leaseMs?: number;
  /** Default `<hostname>-<pid>`; a per-process nonce is always appended, so two processes given one id are still two writers. */
  coordinatorId?: string;
  /** How long histories and summaries of finished runs are kept. Default 7 days. */
  retentionMs?: number;
  /** Re-dispatch an attempt without timeoutMs after this long with nothing heard of it. Default 10 minutes. */
  watchdogMs?: number;
  /** How often the tasks stream is swept of messages no run can use, and how old they must be (task-sweeper.ts). Default 60000 ms. */
  taskSweepMs?: number;
  /** Default: silent. */
  logger?: Logger;
}

export interface CoordinatorStats extends ApiCounters {
  /** Task messages deleted because no run can use them (unknown or finished run, bad ids, malformed, exhausted deliveries of such a run). */
  undeliverable: number;
  /** Malformed messages seen: API requests, advisories, and run events on the wire. */
  malformed: number;
  /** Runs this coordinator drives now. */
  runs: number;
  /** Reports of the runs it holds decoded and handed to their runs (each run reads only its own reports). */
  reportsDelivered: number;
}

export interface CoordinatorService {
  readonly id: string;
  readonly transport: NatsTransport;
  readonly engine: Engine;
  /** Served workflows by name, with their plans. */
  readonly plans: ReadonlyMap<string, Plan>;
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
  const served = new Map<string, { workflow: Workflow<unknown>; plan: Plan }>();
  for (const wf of options.workflows) {
    if (served.has(wf.name)) throw new UsageError(`two workflows are named "${wf.name}"; a coordinator serves each workflow name once`);
    served.set(wf.name, { workflow: wf, plan: compile(wf) });
  }
  const transport = await createNatsTransport({ ...options.nats, logger, name: options.nats.name ?? `phaseflow-coordinator ${baseId}` });
  const engine = createEngine({ transport, worker: false, logger, coordinatorId: baseId, keepHistory: false, ...(options.watchdogMs !== undefined ? { watchdogMs: options.watchdogMs } : {}) });
  // The engine's id carries a per-process nonce: two processes given one --id are still two writers and two leaseholders.
  const id = engine.coordinatorId;
  const workersKv = typedKv(transport.buckets.workers, workerHeartbeatSchema, logger, transport.names.buckets.workers);
  const bucket = transport.names.buckets.runs;
  const kv: RunStoreKv = {
    runs: typedKv(transport.buckets.runs, storedRunSchema, logger, bucket),
    active: typedKv(transport.buckets.runs, activeMarkSchema, logger, bucket),
    done: typedKv(transport.buckets.runs, doneMarkSchema, logger, bucket),
  };
  const driver = new RunDriver({
    id,
    engine,
    transport,
    workflows: served,
    kv,
    workersKv,
    leaseMs: options.leaseMs ?? 15_000,
    workerPollMs: options.workerPollMs ?? 1000,
    logger,
  });
  const counters: ApiCounters = { requests: 0, malformed: 0, errors: 0 };
  const taskCounters = { undeliverable: 0, malformed: 0 };
  const nc = transport.connection;
  const queue = `${transport.names.prefix}-coordinators`;
  const api = (op: string): string => transport.names.subjects.api(op);
  const subs: NatsSubscription[] = [];
  let closed = false;

  const start = async (req: ReturnType<typeof startRunRequestSchema.parse>): Promise<object> => {
    const entry = served.get(req.workflow);
    if (!entry) throw new UsageError(`this coordinator does not serve workflow "${req.workflow}"; it serves: ${[...served.keys()].join(", ") || "(none)"}`);
    if (req.planHash !== undefined && req.planHash !== entry.plan.planHash) throw new PlanHashMismatchError(req.workflow, entry.plan.planHash, req.planHash);
    const parsedOptions = runOptionsSchema.safeParse(req.options);
    if (!parsedOptions.success) throw new UsageError(`run options are invalid: ${parsedOptions.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    const { runId: askedId, ...runOptions } = parsedOptions.data;
    // Validate the input here, so a bad input is an error reply rather than a pending run.
    if (entry.workflow.options.input) {
      const checked = entry.workflow.options.input.safeParse(req.input);
      if (!checked.success) {
        throw new InputValidationError(entry.workflow.name, checked.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: i.message })));
      }
    }
    if (options.requireWorkers) {
      const missing = missingExecutors(indexPlan(entry.plan).executors(), await readLiveWorkers(workersKv, Date.now(), HEARTBEAT_STALE_MS));
      if (missing.length > 0) throw new WorkersUnavailableError(entry.workflow.name, missing);
    }
    const runId = askedId ?? defaultIdGenerator();
    const waitingFor = await driver.accept(req.workflow, req.input, runOptions, runId);
    return { ok: true, runId, planHash: entry.plan.planHash, waitingFor };
  };

  /** The full record: from memory when this coordinator drives the run, else rebuilt from the event history. */
  const recordOf = async (runId: string): Promise<RunRecord> => {
    const handle = driver.handle(runId);
    if (handle) return handle.status();
    const { messages } = await transport.readHistory(runId);
    if (messages.length > 0) return recordOfHistory(messages);
    const stored = (await driver.store.get(runId))?.value;
    if (stored) return { runId, workflow: stored.workflow, version: stored.version, planHash: stored.planHash, status: stored.status, states: [], tasks: [] };
    throw new RunNotFoundError(runId);
  };

  const cancel = async ({ runId, reason }: { runId: string; reason?: string | undefined }): Promise<object> => {
    const why = reason ?? "cancelled by request";
    const held = await driver.cancelHeld(runId, why);
    if (held !== undefined) return { ok: true, runId, status: held };
    const record = await recordOf(runId);
    if (isRunFinished(record)) return { ok: true, runId, status: record.status };
    // Driven elsewhere: take it over if its coordinator is gone, else forward to it.
    if (await driver.adoptIfOrphaned(runId)) {
      const status = await driver.cancelHeld(runId, why);
      return { ok: true, runId, status: status ?? "cancelled" };
    }
    const stored = (await driver.store.get(runId))?.value;
    if (!stored) throw new RunNotFoundError(runId);
    logger.info({ runId, owner: stored.coordinator }, "cancel forwarded to the coordinator driving the run");
    const reply = await nc.request(api(`coordinator.${stored.coordinator}.cancel`), encoder.encode(JSON.stringify({ runId, reason: why })), { timeout: 10_000 });
    const parsed = cancelRunReplySchema.parse(JSON.parse(decoder.decode(reply.data)));
    if (!parsed.ok) throw deserializeError(parsed.error);
    return parsed;
  };

  const retry = async ({ runId, from }: ReturnType<typeof retryRunRequestSchema.parse>): Promise<object> => {
    const { messages } = await transport.readHistory(runId);
    if (messages.length === 0) throw new RunNotFoundError(runId);
    const record = recordOfHistory(messages);
    const entry = served.get(record.workflow);
    if (!entry) throw new UsageError(`this coordinator does not serve workflow "${record.workflow}" of run "${runId}"`);
    if (record.status !== "failed") throw new UsageError(`run "${runId}" is ${record.status}; only a failed run can be retried`);
    await driver.retry(entry.workflow, runId, messages, from);
    return { ok: true, runId, planHash: entry.plan.planHash, waitingFor: [] };
  };

  subs.push(serveEndpoint(nc, api("run.start"), queue, startRunRequestSchema, start, logger, counters));
  subs.push(serveEndpoint(nc, api("run.get"), queue, runIdRequestSchema, async ({ runId }) => ({ ok: true, record: await recordOf(runId) }), logger, counters));
  subs.push(serveEndpoint(nc, api("run.cancel"), queue, cancelRunRequestSchema, cancel, logger, counters));
  subs.push(
    serveEndpoint(nc, api("plan.get"), queue, getPlanRequestSchema, ({ workflow }) => {
      const entry = served.get(workflow);
      if (!entry) return Promise.reject(new UsageError(`this coordinator does not serve workflow "${workflow}"; it serves: ${[...served.keys()].join(", ") || "(none)"}`));
      return Promise.resolve({ ok: true, plan: entry.plan });
    }, logger, counters),
  );
  subs.push(serveEndpoint(nc, api("run.retry"), queue, retryRunRequestSchema, retry, logger, counters));
  subs.push(serveEndpoint(nc, api("run.signal"), queue, signalRunRequestSchema, (req) => sendSignal(transport, served, driver.store, req), logger, counters));
  // Cancels forwarded to this coordinator by name (no queue group: only we listen here).
  subs.push(
    serveEndpoint(
      nc,
      api(`coordinator.${id}.cancel`),
      "",
      cancelRunRequestSchema,
      async ({ runId, reason }) => {
        const status = await driver.cancelHeld(runId, reason ?? "cancelled by request");
        if (status === undefined) throw new RunNotFoundError(runId);
        return { ok: true, runId, status };
      },
      logger,
      counters,
    ),
  );
  subs.push(
    serveEndpoint(
      nc,
      api("run.list"),
      queue,
      listRunsRequestSchema,
      async ({ limit, status, workflow, before }) => {
        const at = (r: { startedAt?: number | undefined; updatedAt: number }): number => r.startedAt ?? r.updatedAt;
        const runs = (await Promise.all((await kv.runs.keys("run.>")).map((k) => kv.runs.get(k))))
          .flatMap((e) => (e ? [e.value] : []))
          .filter((r) => (status === undefined || r.status === status) && (workflow === undefined || r.workflow === workflow))
          .filter((r) => before === undefined || isAfterCursor({ at: at(r), runId: r.runId }, before))
          .sort((a, b) => compareNewestFirst({ at: at(a), runId: a.runId }, { at: at(b), runId: b.runId }))
          .slice(0, limit)
          .map((r): RunSummary => ({
            runId: r.runId,
            workflow: r.workflow,
            status: r.status,
            ...(r.currentState !== undefined ? { currentState: r.currentState } : {}),
            ...(r.startedAt !== undefined ? { startedAt: r.startedAt } : {}),
            ...(r.finishedAt !== undefined ? { finishedAt: r.finishedAt } : {}),
            tasks: { total: r.tasks.total, succeeded: r.tasks.succeeded, failed: r.tasks.failed },
          }));
        return { ok: true, runs };
      },
      logger,
      counters,
    ),
  );
  const stats = (): CoordinatorStats => ({ ...counters, malformed: counters.malformed + taskCounters.malformed + transport.stats().malformed, undeliverable: taskCounters.undeliverable, runs: driver.size, reportsDelivered: transport.stats().reportsDelivered ?? 0 });
  subs.push(serveEndpoint(nc, api(`coordinator.${id}.stats`), "", runIdRequestSchema.partial(), () => Promise.resolve({ ok: true, id, ...stats() }), logger, counters));
  subs.push(watchMaxDeliveries(transport, id, logger, counters, { kv, counters: taskCounters }));
  await nc.flush();
  await driver.startBackground();
  const retention = startRetention({ transport, kv, retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS, logger });
  const sweeper = startTaskSweeper({ transport, kv, sweepMs: options.taskSweepMs ?? DEFAULT_TASK_SWEEP_MS, logger, counters: taskCounters });
  logger.info({ coordinatorId: id, workflows: [...served.keys()], prefix: transport.names.prefix }, "coordinator started");

  return {
    id,
    transport,
    engine,
    plans: new Map([...served].map(([name, s]) => [name, s.plan])),
    stats,
    async close() {
      if (closed) return;
      closed = true;
      for (const s of subs) s.unsubscribe();
      retention.stop();
      sweeper.stop();
      await driver.close(() => engine.close());
      await transport.close();
      logger.info({ coordinatorId: id }, "coordinator stopped");
    },
  };
}
