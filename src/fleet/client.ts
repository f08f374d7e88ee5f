/**
 * The programmatic client of a phaseflow deployment: submit runs to a coordinator,
 * follow their events live from the durable history, read, list and cancel runs.
 * `phaseflow run --nats`, `status` and `cancel` are thin layers over this.
 *
 * Errors a coordinator returns come back as the classes it raised them with
 * (`deserializeError`: InputValidationError, WorkersUnavailableError, RunNotFoundError,
 * ...), so callers match them with `instanceof`.
 */
import type { ZodType } from "zod";
import { PhaseflowError, TransportOperationError, UsageError } from "../errors/base.js";
import { UpgradeRefusedError } from "../errors/upgrade.js";
import type { UpgradeReport } from "../runtime/core/upgrade.js";
import { ApiRequestError, ReplyTooLargeError } from "../errors/fleet.js";
import { routedOp } from "../transport/api-route.js";
import { deserializeError, type SerializedError } from "../errors/serialize.js";
import { decodeJsonText } from "../transport/decode.js";
import { assertRunInputFits } from "../transport/json.js";
import { defaultIdGenerator } from "../support/clock.js";
import type { Logger } from "../registry/types.js";
import { createSilentLogger } from "../support/logger.js";
import type { Plan } from "../plan/schema.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { SignalSent } from "../runtime/core/signals.js";
import { decisionEvents, reportEvent } from "../runtime/core/history.js";
import { recordOfHistory } from "../runtime/core/run-record.js";
import type { LiveSignal, RunEvent, RunUpdate, StoredMessage } from "../transport/messages.js";
import { createNatsTransport, type NatsTransport } from "../transport/nats/transport.js";
import { permissionErrorOf } from "../transport/nats/connect.js";
import type { NatsTransportOptions } from "../transport/nats/options.js";
import { NoRespondersError } from "../transport/fleet-port.js";
import { assertRunId, natsNames } from "../transport/nats/names.js";
import { inboxPrefixOf } from "../transport/nats/permissions.js";
import { pruneFinishedRuns, type PruneResult } from "./retention.js";
import { readTriggerStates } from "./trigger-service.js";
import type { TriggerState } from "../triggers/trigger-state.js";
import { runStoreKv } from "./run-store.js";
import { readLiveWorkers, workerHeartbeatSchema, type WorkerHeartbeat } from "./heartbeat.js";
import { versionsReplySchema, type VersionReport } from "./versions-report.js";
import { queuesReplySchema, type QueueRow } from "./queues-report.js";
import {
  cancelRunReplySchema,
  getPlanReplySchema,
  getRunReplySchema,
  listRunsReplySchema,
  signalRunReplySchema,
  startRunReplySchema,
  upgradeRunReplySchema,
  type ListRunsRequest,
  type RunSummary,
  type StartRunRequest,
} from "./api-schemas.js";

export interface ClientOptions extends Omit<NatsTransportOptions, "logger"> {
  /** How long a request waits for a coordinator. Default 10000 ms. */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** Options of `client.start`: the run's options, and the workflow version to start (default: the latest served). */
export type StartOptions = StartRunRequest["options"] & { version?: string };

export interface StartedRun {
  runId: string;
  planHash: string;
  /** The workflow version the run is pinned to (absent from coordinators that predate versions). */
  version?: string;
  /** Executors no live worker serves yet: the run is pending until they appear. */
  waitingFor: string[];
  /** With a start key that had started a run before: that run, and nothing new was started. */
  existing: boolean;
  /** Queued by the workflow's concurrency (onLimit "queue"): what it waits for, e.g. "queued: workflow limit sync[ann] 1/1 in use, 0 queued ahead". */
  queued?: string;
}

/** How a run ended, from its terminal decision. */
export type RunEnd =
  | { runId: string; status: "succeeded"; output: unknown }
  | { runId: string; status: "failed"; error: SerializedError }
  | { runId: string; status: "cancelled"; reason: string };

export interface Client {
  readonly transport: NatsTransport;
  /**
   * Start a run of a workflow the coordinators serve. With `options.key` (a start key), a
   * second start with the same key returns the first run (`existing: true`) for as long
   * as that run is kept (the retention period). With `check.planHash`, the
   * coordinator refuses (PLAN_HASH_MISMATCH) when it serves another plan under that name.
   * With `options.version`, that version starts; without, the latest version any live
   * coordinator serves. The request reaches only coordinators serving the workflow.
   */
  start(workflow: string, input: unknown, options?: StartOptions, check?: { planHash?: string }): Promise<StartedRun>;
  /** The plan the coordinators serve for `workflow` (its latest version, or `version`). */
  plan(workflow: string, version?: string): Promise<Plan>;
  get(runId: string): Promise<RunRecord>;
  /**
   * The run's record and, for an unfinished run that cannot move, what it waits for
   * ("waiting for a coordinator serving etl@1 (plan 3f2a…)").
   */
  inspect(runId: string): Promise<{ record: RunRecord; waiting?: string }>;
  /** Runs newest first, from their summaries; `workflow` filters, `before` (a run's `cursorOf`) pages. */
  list(options?: ListRunsRequest): Promise<RunSummary[]>;
  cancel(runId: string, reason?: string): Promise<RunRecord["status"]>;
  /**
   * Send the signal `name` to a run: the first signal node of that name it reaches (or
   * that waits already) succeeds with `payload`. Resolves once the signal is stored in the
   * run's history. A repeated `options.id` is applied once (`duplicate: true`).
   * @throws SignalRefusedError (SIGNAL_UNKNOWN, SIGNAL_RUN_FINISHED), SignalPayloadInvalidError, RunNotFoundError
   */
  signal(runId: string, name: string, payload?: unknown, options?: { id?: string }): Promise<SignalSent>;
  /** Re-run a failed run from its failed tasks, or from `from` (a task and everything downstream). */
  retry(runId: string, from?: { state: string; task: string }): Promise<StartedRun>;
  /**
   * Move a running run onto another version of its workflow when that version's plan can
   * carry on from where the run stands (README "Deploying new versions"); with `dryRun`, only report
   * what would happen. The move is stored in the run's history before this resolves.
   * @throws UpgradeRefusedError (every incompatibility in `issues`; nothing changed), RunNotFoundError, UsageError (ended run, no live coordinator serving the version)
   * @example const report = await client.upgrade(runId, { toVersion: "2", dryRun: true }); // report.issues
   */
  upgrade(runId: string, options: { toVersion: string; dryRun?: boolean }): Promise<UpgradeReport>;
  /**
   * Every event of the run from its start, live; ends after the run's terminal event.
   * With `afterRetry`, a terminal event only ends it once a `run.retried` was seen (to follow a retry).
   */
  follow(runId: string, options?: { afterRetry?: boolean }): AsyncIterable<RunEvent>;
  /** The same, with the run's live signals (attempts running, progress, heartbeats) in between: what a progress display shows. */
  followLive(runId: string, options?: { afterRetry?: boolean }): AsyncIterable<RunUpdate>;
  /**
   * Wait for the run's end, reading only its decisions (not every worker report): its
   * status and output or error. Use `get` for the whole record.
   */
  waitForEnd(runId: string): Promise<RunEnd>;
  /** The schedules and polling sources the coordinators serve, as they last recorded them (last and next tick, last run or pass). */
  schedules(): Promise<TriggerState[]>;
  /** The live workers of the deployment, from their heartbeats. */
  workers(): Promise<WorkerHeartbeat[]>;
  /**
   * Each workflow version and plan the fleet knows of: the live coordinators serving it
   * (from their heartbeats) and how many runs are in flight on it (from the active-run
   * index). A coordinator answers (`run.versions`), so one must be up.
   */
  versions(): Promise<VersionReport[]>;
  /** Waiting, running and rate use per task limit and key, across the fleet's coordinators (`phaseflow queues`). */
  queues(): Promise<{ rows: QueueRow[]; unanswered: string[] }>;
  /** Remove the histories and summaries of runs that finished more than `olderThanMs` ago. */
  prune(olderThanMs: number): Promise<PruneResult>;
  close(): Promise<void>;
}

const TERMINAL = new Set<RunEvent["type"]>(["run.succeeded", "run.failed", "run.cancelled"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Connect a client.
 * @example
 * const client = await createClient({ servers: "nats://127.0.0.1:4222" });
 * const { runId } = await client.start("etl", { day: "2026-11-01" });
 * for await (const e of client.follow(runId)) console.log(e.type);
 * console.log((await client.get(runId)).status);
 */
export async function createClient(options: ClientOptions): Promise<Client> {
  const { requestTimeoutMs = 10_000, logger = createSilentLogger(), ...nats } = options;
  const transport = await createNatsTransport({ ...nats, logger, name: nats.name ?? "phaseflow-client", inboxPrefix: nats.inboxPrefix ?? inboxPrefixOf(natsNames(nats.prefix), "client") });

  async function request<T extends { ok: boolean }>(op: string, body: unknown, schema: ZodType<T>, route?: { workflow: string; version?: string | undefined }): Promise<Exclude<T, { ok: false }>> {
    if (route) op = routedOp(op, route.workflow, route.version);
    const subject = transport.api.subject(op);
    let text: string;
    try {
      text = decoder.decode(await transport.api.request(op, encoder.encode(JSON.stringify(body)), { timeoutMs: requestTimeoutMs }));
    } catch (err) {
      const denied = permissionErrorOf(err, transport.options, `the request "${op}"`);
      if (denied !== undefined) throw denied;
      const noResponders = err instanceof NoRespondersError;
      throw new ApiRequestError(
        noResponders ? "NO_COORDINATOR" : "API_REQUEST_FAILED",
        noResponders
          ? `no coordinator answers on ${subject}${route ? ` (none serves workflow "${route.workflow}"${route.version !== undefined ? ` version "${route.version}"` : ""})` : ""}; start one with "phaseflow coordinator --nats ${transport.options.servers.join(",")} <workflow files>" (same --prefix)`
          : `request ${subject} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const parsed = decodeJsonText(schema, text);
    if (!parsed.ok) throw new ApiRequestError("API_REPLY_INVALID", `the coordinator's reply on ${subject} is malformed (${parsed.reason}); are client and coordinator the same phaseflow version?`);
    const reply = parsed.value as T & { error?: SerializedError };
    if (!reply.ok) throw deserializeError(reply.error!);
    return reply as Exclude<T, { ok: false }>;
  }

  async function inspect(runId: string): Promise<{ record: RunRecord; waiting?: string }> {
    // Checked before the request: a run id is a subject token.
    assertRunId(runId);
    try {
      const { record, waiting } = await request("run.get", { runId }, getRunReplySchema);
      return waiting !== undefined ? { record, waiting } : { record };
    } catch (err) {
      if (!(err instanceof ReplyTooLargeError)) throw err;
      // A record over max_payload (many tasks, large values): fold the run's history here, the same fold the coordinator uses.
      logger.debug({ runId }, "run record too large for one reply; folding its history");
      const { messages } = await transport.readHistory(runId);
      return { record: recordOfHistory(messages) };
    }
  }

  return {
    transport,
    async start(workflow, input, startOptions = {}, check = {}) {
      const { version, ...runOptions } = startOptions;
      // Checked here: a start request over the server's max_payload would never reach a coordinator.
      if (runOptions.runId !== undefined) assertRunId(runOptions.runId);
      // Over inlineBytes the input travels as a payload reference (README "Payloads of any size"), held by the run it starts.
      const payloads = transport.payloads;
      assertRunInputFits(workflow, input, payloads.maxPayload, "maxPayload");
      let sent = input;
      if (input !== null && typeof input === "object" || typeof input === "string") {
        const runId = (runOptions.runId ??= defaultIdGenerator());
        sent = await payloads.reference(runId, input, `the input of workflow "${workflow}"`);
      }
      const body = { workflow, input: sent, options: runOptions, ...(check.planHash !== undefined ? { planHash: check.planHash } : {}), ...(version !== undefined ? { version } : {}) };
      const r = await request("run.start", body, startRunReplySchema, { workflow, version });
      return { runId: r.runId, planHash: r.planHash, ...(r.version !== undefined ? { version: r.version } : {}), waitingFor: r.waitingFor, existing: r.existing === true, ...(r.queued !== undefined ? { queued: r.queued } : {}) };
    },
    async plan(workflow, version) {
      return (await request("plan.get", { workflow, ...(version !== undefined ? { version } : {}) }, getPlanReplySchema, { workflow, version })).plan;
    },
    async get(runId) {
      return (await inspect(runId)).record;
    },
    inspect,
    async list(listOptions = {}) {
      return (await request("run.list", listOptions, listRunsReplySchema)).runs;
    },
    async cancel(runId, reason) {
      assertRunId(runId);
      return (await request("run.cancel", { runId, ...(reason !== undefined ? { reason } : {}) }, cancelRunReplySchema)).status;
    },
    async signal(runId, name, payload, signalOptions = {}) {
      assertRunId(runId);
      const sent = payload === undefined ? undefined : await transport.payloads.reference(runId, payload, `the payload of signal "${name}"`);
      const r = await request("run.signal", { runId, name, ...(sent !== undefined ? { payload: sent } : {}), ...(signalOptions.id !== undefined ? { id: signalOptions.id } : {}) }, signalRunReplySchema);
      return { runId: r.runId, name: r.name, id: r.id, duplicate: r.duplicate };
    },
    async retry(runId, from) {
      assertRunId(runId);
      const r = await request("run.retry", { runId, ...(from ? { from } : {}) }, startRunReplySchema);
      return { runId: r.runId, planHash: r.planHash, waitingFor: r.waitingFor, existing: false };
    },
    async upgrade(runId, upgradeOptions) {
      assertRunId(runId);
      const { toVersion, dryRun } = upgradeOptions;
      if (typeof toVersion !== "string" || toVersion === "") throw new UsageError("client.upgrade: toVersion must be a non-empty version");
      const { report } = await request("run.upgrade", { runId, toVersion, ...(dryRun === true ? { dryRun } : {}) }, upgradeRunReplySchema);
      if (!report.dryRun && !report.upgraded && report.issues.length > 0) throw new UpgradeRefusedError(runId, report.workflow, report.from.version, report.to.version, report.issues);
      return report;
    },
    follow(runId, followOptions = {}) {
      assertRunId(runId);
      return followRun(transport, runId, logger, followOptions.afterRetry === true, false) as AsyncIterable<RunEvent>;
    },
    followLive(runId, followOptions = {}) {
      assertRunId(runId);
      return followRun(transport, runId, logger, followOptions.afterRetry === true, true);
    },
    async waitForEnd(runId) {
      assertRunId(runId);
      let end: RunEnd | undefined;
      let wake!: () => void;
      const ended = new Promise<void>((resolve) => (wake = resolve));
      // An end is the run's only once every decision stored before this call is read: a
      // retry stored after a failure (client.retry answers once it is) must not be missed.
      // A server whose permissions predate this (no message-get on the events stream for this
      // user) falls back to the first end read, as before, and says so.
      const through = await transport.lastDecisionSeq(runId).catch((err: unknown) => {
        logger.warn({ err, runId }, "could not read the run's last decision; the end reported may be one a later retry replaced (regenerate the server's permissions with phaseflow nats-config)");
        return 0;
      });
      const sub = await withRetries(
        () =>
          transport.followHistory(
            runId,
            0,
            ({ seq, message }) => {
              if (message.kind !== "decision") return;
              for (const e of message.events) {
                if (e.type === "run.retried") end = undefined;
                else if (e.type === "run.succeeded") end = { runId, status: "succeeded", output: e.output };
                else if (e.type === "run.failed") end = { runId, status: "failed", error: e.error };
                else if (e.type === "run.cancelled") end = { runId, status: "cancelled", reason: e.reason };
              }
              if (end && seq >= through) wake();
            },
            { decisionsOnly: true },
          ),
        `waiting for run "${runId}" to end`,
        logger,
      );
      try {
        await ended;
        return end!;
      } finally {
        await sub.stop().catch((err: unknown) => logger.debug({ err, runId }, "could not stop following a run"));
      }
    },
    async schedules() {
      return (await readTriggerStates(transport)).sort((a, b) => a.workflow.localeCompare(b.workflow) || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
    },
    workers() {
      return readLiveWorkers(transport.store("workers", workerHeartbeatSchema), Date.now());
    },
    async versions() {
      return (await request("run.versions", {}, versionsReplySchema)).versions;
    },
    async queues() {
      const { rows, unanswered } = await request("run.queues", {}, queuesReplySchema);
      return { rows, unanswered };
    },
    prune(olderThanMs) {
      return pruneFinishedRuns(transport, runStoreKv(transport), Date.now() - olderThanMs, logger);
    },
    close: () => transport.close(),
  };
}

/**
 * A run's history through the port, live, as events in stored order. (A coordinator's
 * decision may be stored after a report it was decided before; a reader folding these
 * live sees the same end, and `get` folds the exact order.)
 */
async function* followRun(transport: NatsTransport, runId: string, logger: Logger, afterRetry: boolean, live: boolean): AsyncGenerator<RunUpdate> {
  let armed = !afterRetry;
  const queue: (StoredMessage | LiveSignal)[] = [];
  let wake: (() => void) | undefined;
  const liveSub = live
    ? await transport.subscribeLive(runId, (signal) => {
        queue.push(signal);
        wake?.();
      })
    : undefined;
  const sub = await withRetries(
    () =>
      transport.followHistory(runId, 0, (stored) => {
        queue.push(stored);
        wake?.();
      }),
    `following run "${runId}"`,
    logger,
  );
  try {
    for (;;) {
      const next = queue.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        continue;
      }
      if (!("seq" in next)) {
        yield next;
        continue;
      }
      const events: RunEvent[] = next.message.kind === "decision" ? decisionEvents(next.message).filter((e) => e.type !== "through") : [reportEvent(next.seq, next.message)];
      for (const e of events) {
        yield e;
        if (e.type === "run.retried") armed = true;
        if (armed && TERMINAL.has(e.type)) return;
      }
    }
  } catch (err) {
    if (err instanceof PhaseflowError) throw err;
    throw new TransportOperationError("NATS_READ_FAILED", `following run "${runId}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await liveSub?.stop().catch((err: unknown) => logger.debug({ err, runId }, "could not stop the live signals of a run"));
    await sub.stop().catch((err: unknown) => logger.debug({ err, runId }, "could not stop following a run"));
  }
}

/**
 * Retry a JetStream call while the server is away or JetStream is still recovering
 * (after a restart, requests time out or get "no responders" for a few seconds).
 */
async function withRetries<T>(fn: () => Promise<T>, what: string, logger: Logger, deadlineMs = 60_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() + delay > until) throw err;
      logger.warn({ err, what }, "NATS not ready; retrying");
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
