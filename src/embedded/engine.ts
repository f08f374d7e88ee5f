/**
 * The engine: what a user meets first. `createEngine({ registry })` runs workflows
 * embedded — a memory transport, an in-process worker serving the registry, and a
 * coordinator, all in this process, no server. Given a `transport` (e.g. NATS), it
 * drives runs over it and leaves the executing to workers elsewhere (unless
 * `worker: true`).
 *
 * `engine.run` compiles the workflow (once per workflow object: do not change a
 * workflow after its first run), parses the input with the workflow's input schema
 * (rejecting with InputValidationError before anything is dispatched; the parsed
 * value is what the run gets), and starts the run.
 *
 * With `{ key }`, a second `run` of the same workflow with the same key returns the
 * first run's handle (same run id) instead of starting another: start keys, kept in
 * memory for the engine's life (the newest KEEP_START_KEYS). Fleet coordinators keep
 * them in KV for the retention period instead (src/fleet/start-keys.ts).
 *
 * `engine.resume` and `engine.retry` pick a run up from its stored history (crash,
 * takeover, partial re-run of a failed run); `engine.release` lets go of a run that
 * another coordinator took over. Its options and their schemas are engine-options.ts.
 */
import { compile } from "../compiler/compile.js";
import type { Workflow } from "../dsl/workflow.js";
import { compareVersions } from "../plan/versions.js";
import { pinnedPlanHash } from "../runtime/core/pinned-plan.js";
import { RunNotFoundError, UsageError } from "../errors/base.js";
import { OptionsError } from "../errors/options.js";
import { parseOptions } from "../support/options.js";
import type { Plan } from "../plan/schema.js";
import { createMemoryTransport } from "../transport/memory/index.js";
import { assertRunInputFits } from "../transport/json.js";
import { DEFAULT_MAX_VALUE_BYTES } from "../transport/payloads.js";
import { createWorker, type Worker } from "../worker/index.js";
import { defaultIdGenerator, type IdGenerator, type RandomSource } from "../support/clock.js";
import { RunGate } from "./run-limits.js";
import { createCoordinator, type Coordinator } from "../runtime/shell/coordinator.js";
import type { RunHandle } from "../runtime/shell/run-handle.js";
import type { StoredMessage } from "../transport/messages.js";
import type { RetryFrom } from "../runtime/core/run-retry.js";
import { createSilentLogger } from "../support/logger.js";
import type { RunRecord, RunSummary } from "../runtime/core/run-record-schema.js";
import { resolveRunInput, runOptionsSchema, type ResolvedRunStart } from "../support/run-options.js";
import { prepareSignal, type SendSignalOptions, type SignalSent } from "../runtime/core/signals.js";
import { holdsPayload } from "../runtime/core/schema-check.js";
import { queueRowsOf, type QueueRow } from "../runtime/core/queue-rows.js";
import { isFinished } from "../runtime/core/run-state.js";
import { SignalRefusedError } from "../errors/waits.js";
import { embeddedChildRuns } from "./child-runs.js";
import { WorkflowCatalog } from "./workflow-catalog.js";
import { engineOptionsSchema, upgradeOptionsSchema, type EngineOptions, type EngineRunOptions, type UpgradeOptions } from "./engine-options.js";
import { upgradeReportOf, type UpgradeReport } from "../runtime/core/upgrade.js";
import { UpgradeRefusedError } from "../errors/upgrade.js";
import type { ParentRef } from "../transport/messages.js";

/** Start keys an embedded engine remembers (the newest); the fleet keeps them in KV for the retention period. */
export const KEEP_START_KEYS = 10_000;

export { DEFAULT_ENGINE_CONCURRENCY } from "./engine-options.js";
export type { EngineOptions, EngineRunOptions, UpgradeOptions } from "./engine-options.js";

export interface Engine {
  /** The coordinator's writer identity in histories: its id with a per-process nonce. */
  readonly coordinatorId: string;
  /**
   * Start a run of `workflow` with `input`.
   * @throws InputValidationError (input fails the workflow's schema), OptionsError, WorkflowValidationError, UsageError
   */
  run<I>(workflow: Workflow<I>, input: I, options?: EngineRunOptions): Promise<RunHandle>;
  /**
   * Start a run whose options and input were resolved already (`resolveRunStart`), as a
   * fleet coordinator does with the start it accepted: nothing is parsed again.
   * @throws WorkflowValidationError, UsageError
   */
  start(workflow: Workflow<unknown>, start: ResolvedRunStart & { parent?: ParentRef | undefined }): Promise<RunHandle>;
  /**
   * Pick a run up from its whole stored history (`transport.readHistory(runId)`):
   * after a crash, or to take over a run whose coordinator is gone. A finished run's
   * handle just reports its record; an unfinished one carries on without re-running
   * what already succeeded.
   * @throws UsageError, PlanMismatchError (the workflow is not the one the run started with)
   * @example
   * const run = await engine.resume(etl, (await transport.readHistory(runId)).messages);
   * const record = await run.result();
   */
  resume<I>(workflow: Workflow<I>, history: readonly StoredMessage[]): Promise<RunHandle>;
  /**
   * Re-run a failed run in the same history: its failed tasks and everything
   * downstream of them (or, with `from`, that task of the last visit of that state and
   * its downstream); every other task keeps its recorded output. Resolves once the
   * retry is stored in the history, so an acknowledged retry survives a crash.
   * @throws UsageError (the run did not fail; `from` names no entered state or no task of it), PlanMismatchError
   * @example
   * const run = await engine.retry(etl, (await transport.readHistory(runId)).messages, { state: "ingest", task: "load" });
   */
  retry<I>(workflow: Workflow<I>, history: readonly StoredMessage[], from?: RetryFrom): Promise<RunHandle>;
  /**
   * Send the signal `name` to a run driven by this engine: the first signal node of that
   * name it reaches (or that waits already) succeeds with `payload`. Stored in the run's
   * history before it resolves. A repeated `id` is applied once (`duplicate: true`).
   * @throws SignalRefusedError (SIGNAL_UNKNOWN, SIGNAL_RUN_FINISHED, SIGNAL_INVALID), SignalPayloadInvalidError, RunNotFoundError
   * @example await engine.signal(run.runId, "verdict", { ok: true, note: "fine" });
   */
  signal(runId: string, name: string, payload?: unknown, options?: SendSignalOptions): Promise<SignalSent>;
  /**
   * Move a running run driven by this engine onto another version of its workflow (one
   * the engine knows: `workflows`, or run before), when that version's plan can carry on
   * from where the run stands (README "Deploying new versions"). The move is stored in the run's
   * history (`run.upgraded`), so resuming the run uses the new plan. With `dryRun`,
   * only reports what it would do. Resolves once the move is stored.
   * @throws UpgradeRefusedError (every incompatibility in `issues`; nothing changed), RunNotFoundError, UsageError (ended run, unknown version)
   * @example const report = await engine.upgrade(run.runId, { toVersion: "2" }); // report.upgraded === true
   */
  upgrade(runId: string, options: UpgradeOptions): Promise<UpgradeReport>;
  /** The id of the run `key` started for `workflow` (a start key this engine remembers), else undefined. */
  keyedRun(workflow: string, key: string): string | undefined;
  /** Stop driving a run at once, publishing nothing more (another coordinator took it over); its result() rejects with RunReleasedError. */
  release(runId: string): void;
  /** Attempts of a run driven here dispatched at or before `before` (epoch ms) with nothing heard of them: no start, no report. */
  unstarted(runId: string, before: number): { dispatchId: string; epoch: number; dispatchedAt: number }[];
  /** Dispatch such an attempt again now (its task message is gone: fleet/vanished-tasks.ts); counted like a watchdog re-dispatch. */
  attemptLost(runId: string, dispatchId: string, reason: string): void;
  /** The record of a run started by this engine (undefined when unknown). */
  get(runId: string): RunRecord | undefined;
  /**
   * A run's status and task counts (undefined when unknown), without building its task
   * records as `get` does: cheap for a map of many instances.
   * @example engine.summary(runId)?.tasks // { total: 10001, succeeded: 10001, failed: 0, running: 0 }
   */
  summary(runId: string): RunSummary | undefined;
  /** Finished runs' records kept in memory for `get`: how many, and their estimated bytes (within `keepFinishedBytes`). */
  kept(): { runs: number; bytes: number };
  /**
   * Waiting, running and rate use per task limit and key, as a fleet's `client.queues()`
   * gives them (`unanswered` is always empty: one engine answers for itself).
   * @example const { rows } = await engine.queues(); // [{ scope: "llm/complete", key: "acme", waiting: 3, concurrency: { running: 2, limit: 2 } }]
   */
  queues(): Promise<{ rows: QueueRow[]; unanswered: string[] }>;
  /** Cancel a run started by this engine; resolves once it ended. */
  cancel(runId: string, reason?: string): Promise<void>;
  /** Stop the coordinator and the in-process worker, and close the transport if the engine created it. */
  close(): Promise<void>;
}

/**
 * Create an engine.
 * @example
 * const engine = createEngine({ registry });
 * const run = await engine.run(etl, { day: "2024-01-01" });
 * const record = await run.result(); // record.status: "succeeded" | "failed" | "cancelled"
 * await engine.close();
 */
export function createEngine(options: EngineOptions): Engine {
  const o = parseOptions(engineOptionsSchema, options, "createEngine options");
  const ownTransport = o.transport === undefined;
  if (o.transport !== undefined && o.maxPayload !== undefined) throw new UsageError("maxPayload applies to embedded runs only; a transport you pass has its own limit (NATS: the server's max_payload)");
  const transport =
    o.transport ?? createMemoryTransport(o.maxPayload === false ? { payloadLimits: false } : { maxPayload: o.maxPayload ?? DEFAULT_MAX_VALUE_BYTES });
  const logger = o.logger ?? createSilentLogger();
  const runWorker = o.worker ?? ownTransport;
  if (runWorker && o.registry === undefined) {
    throw new UsageError("createEngine needs a registry to run its in-process worker; pass { registry }, or { worker: false } when workers elsewhere serve the transport");
  }
  const registry = runWorker ? o.registry : undefined;
  const worker: Worker | undefined =
    registry === undefined
      ? undefined
      : createWorker({ transport, registry, logger, concurrency: o.concurrency, ...(o.clock ? { clock: o.clock } : {}) });
  // The engine's one catalog (workflow-catalog.ts): every workflow it meets, compiled on first use.
  const catalog = new WorkflowCatalog((wf) => planOf(wf));
  for (const wf of o.workflows ?? []) catalog.know(wf);
  const clockNow = (): number => (o.clock ? o.clock.now() : Date.now());
  const children = typeof o.childRuns === "object" ? o.childRuns : o.childRuns === false ? undefined : embeddedChildRuns({ transport, catalog, coordinator: () => coordinator, planOf: (wf) => planOf(wf), now: clockNow, log: logger });
  const coordinator: Coordinator = createCoordinator({
    ...(children ? { children } : {}),
    ...(o.limits ? { limits: o.limits } : {}),
    // Upgraded runs fold on each plan they were on that this engine knows.
    plans: (hash) => {
      learnGiven();
      const wf = byPlanHash.get(hash);
      return wf && { workflow: wf, plan: planOf(wf) };
    },
    transport,
    logger,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.ids ? { ids: o.ids as IdGenerator } : {}),
    ...(o.random ? { random: o.random as RandomSource } : {}),
    ...(o.coordinatorId !== undefined ? { id: o.coordinatorId } : {}),
    ...(o.watchdogMs !== undefined ? { settings: { watchdogMs: o.watchdogMs } } : {}),
    ...(o.keepHistory !== undefined ? { keepHistory: o.keepHistory } : {}),
    ...(o.keepFinishedBytes !== undefined ? { keepFinishedBytes: o.keepFinishedBytes } : {}),
    ...(o.childCheckMs !== undefined ? { childCheckMs: o.childCheckMs } : {}),
  });
  const plans = new WeakMap<Workflow<unknown>, Plan>();
  /** Start keys of this engine (workflow name + key -> its run's handle), the newest KEEP_START_KEYS. */
  const keyed = new Map<string, { runId: string; handle: RunHandle | Promise<RunHandle> }>();
  /** Runs in flight per key of workflows with `concurrency`. */
  const gate = new RunGate();
  const runIds: IdGenerator = (o.ids as IdGenerator | undefined) ?? defaultIdGenerator;
  let workerReady: Promise<void> | undefined;
  let closed = false;

  /** Every plan compiled here by its hash: a stored run is resumed on its own. */
  const byPlanHash = new Map<string, Workflow<unknown>>();
  function planOf(wf: Workflow<unknown>): Plan {
    let plan = plans.get(wf);
    if (!plan) {
      plan = compile(wf, registry ? { registry } : {});
      plans.set(wf, plan);
      catalog.know(wf);
      byPlanHash.set(plan.planHash, wf);
    }
    return plan;
  }
  // Compiled on first use: the registry may still be filled after createEngine.
  let given = [...(o.workflows ?? [])] as Workflow<unknown>[];
  const learnGiven = (): void => {
    for (const wf of given) planOf(wf);
    given = [];
  };
  /** The workflow a start of `wf` with `version` runs. */
  const versionOf = (wf: Workflow<unknown>, version: string | undefined): Workflow<unknown> => {
    if (version === undefined || version === wf.version) return wf;
    const other = catalog.find(wf.name, version);
    if (other) return other.workflow;
    learnGiven();
    const versions = [...byPlanHash.values()].filter((w) => w.name === wf.name).map((w) => w.version).sort(compareVersions);
    throw new UsageError(`engine.run: version "${version}" of workflow "${wf.name}" is not known to this engine (known: ${[...new Set(versions)].join(", ")}); pass it in createEngine({ workflows })`);
  };
  /** The workflow a stored run is pinned to: its plan's, when the engine knows it, else the one given (checked against the history). */
  const pinnedOf = (wf: Workflow<unknown>, history: readonly StoredMessage[]): Workflow<unknown> => {
    planOf(wf);
    learnGiven();
    const hash = pinnedPlanHash(history);
    return (hash !== undefined ? byPlanHash.get(hash) : undefined) ?? wf;
  };

  return {
    coordinatorId: coordinator.owner,
    async run(workflow, input, startOptions = {}) {
      if (closed) throw new UsageError("the engine is closed; create a new engine to start runs");
      const { version, ...runOptions } = startOptions;
      if (version !== undefined && (typeof version !== "string" || version === "")) throw new OptionsError("engine.run options", [{ path: ["version"], message: "must be a non-empty string" }]);
      // Bad options are refused before the workflow is compiled or its version looked up.
      const options = parseOptions(runOptionsSchema, runOptions, "engine.run options");
      planOf(workflow);
      const wf = versionOf(workflow, version);
      // The input is checked against the schema of the version that runs.
      return this.start(wf, { input: resolveRunInput(wf, input), options });
    },
    async start(wf, { input: value, options, parent }) {
      if (closed) throw new UsageError("the engine is closed; create a new engine to start runs");
      const plan = planOf(wf);
      // Refused here, naming the limit, rather than failing later at the first task that carries it.
      if (transport.payloads !== undefined) assertRunInputFits(wf.name, value, transport.payloads.maxPayload, "maxPayload");
      else if (o.maxPayload !== false) assertRunInputFits(wf.name, value, transport.capabilities.maxPayload, ownTransport ? "maxPayload" : undefined);
      if (worker) await (workerReady ??= worker.start());
      const { runId, key, ...resolved } = options;
      const launch = (id: string | undefined): RunHandle =>
        coordinator.start({ workflow: wf, plan, input: value, options: resolved, ...(id !== undefined ? { runId: id } : {}), ...(parent !== undefined ? { parent } : {}) });
      // Runs in flight per key (the workflow's concurrency, run-limits.ts): the run id is drawn now, so a queued run has it before it starts.
      const limited = wf.options.concurrency !== undefined && o.runLimits !== false;
      const id = limited ? (runId ?? runIds()) : runId;
      const gated = (): RunHandle | Promise<RunHandle> => (limited ? gate.admit(wf, value, id!, plan.planHash, resolved.priority ?? wf.options.priority ?? 3, () => launch(id)) : launch(id));
      if (key === undefined) return gated();
      // Looked up and recorded in one synchronous step after the last await: two starts of one key cannot both start.
      const keyOf = `${wf.name}\u0000${key}`;
      const existing = keyed.get(keyOf);
      if (existing) return existing.handle;
      const handle = gated();
      keyed.set(keyOf, { runId: id ?? (handle as RunHandle).runId, handle });
      if (keyed.size > KEEP_START_KEYS) keyed.delete(keyed.keys().next().value!);
      return handle;
    },
    async resume(workflow, history) {
      if (closed) throw new UsageError("the engine is closed; create a new engine to resume runs");
      const wf = pinnedOf(workflow, history);
      const plan = planOf(wf);
      if (worker) await (workerReady ??= worker.start());
      return coordinator.resume({ workflow: wf, plan, history });
    },
    async retry(workflow, history, from) {
      if (closed) throw new UsageError("the engine is closed; create a new engine to retry runs");
      const wf = pinnedOf(workflow, history);
      const plan = planOf(wf);
      if (worker) await (workerReady ??= worker.start());
      return coordinator.retry({ workflow: wf, plan, history, from });
    },
    async signal(runId, name, payload, signalOptions = {}) {
      const state = coordinator.runState(runId);
      if (!state?.model?.defs) {
        const ended = coordinator.get(runId);
        if (ended) throw new SignalRefusedError("SIGNAL_RUN_FINISHED", `run "${runId}" has ended (${ended.status}); it takes no more signals`);
        throw new RunNotFoundError(runId);
      }
      // A payload reference (a transport with payloads) is checked on its value.
      const opened = holdsPayload(payload) && transport.payloads !== undefined && !isFinished(state) ? { value: await transport.payloads.resolve(payload) } : undefined;
      const message = prepareSignal({ state, plan: state.model.plan, defs: state.model.defs, name, payload, opened, id: signalOptions.id, now: clockNow() });
      if (message === "duplicate") return { runId, name, id: signalOptions.id!, duplicate: true };
      const { duplicate } = await transport.appendSignal(message);
      return { runId, name, id: message.id, duplicate };
    },
    async upgrade(runId, upgradeOptions) {
      const { toVersion, dryRun = false } = parseOptions(upgradeOptionsSchema, upgradeOptions, "engine.upgrade options");
      const state = coordinator.runState(runId);
      if (!state) {
        const ended = coordinator.get(runId);
        if (ended) throw new UsageError(`run "${runId}" has ended (${ended.status}); only a running run can be upgraded`);
        throw new RunNotFoundError(runId);
      }
      const r = state.record;
      learnGiven();
      const target = catalog.find(r.workflow, toVersion)?.workflow;
      if (!target) {
        const known = [...new Set([...byPlanHash.values()].filter((w) => w.name === r.workflow).map((w) => w.version))].sort(compareVersions);
        throw new UsageError(`version "${toVersion}" of workflow "${r.workflow}" is not known to this engine (known: ${known.join(", ")}); pass it in createEngine({ workflows })`);
      }
      const plan = planOf(target);
      if (plan.planHash === r.planHash) throw new UsageError(`run "${runId}" is on ${r.workflow}@${r.version} (plan ${r.planHash.slice(0, 12)}) already`);
      const report = upgradeReportOf(r, plan, state.model?.plan, dryRun);
      if (dryRun) return report;
      if (report.issues.length > 0) throw new UpgradeRefusedError(runId, r.workflow, r.version, plan.version, report.issues);
      await coordinator.upgrade(runId, { workflow: target, plan });
      return { ...report, upgraded: true };
    },
    keyedRun: (workflow, key) => keyed.get(`${workflow}\u0000${key}`)?.runId,
    release: (runId) => coordinator.release(runId),
    unstarted: (runId, before) => coordinator.unstarted(runId, before),
    attemptLost: (runId, dispatchId, reason) => coordinator.lost(runId, dispatchId, reason),
    get: (runId) => coordinator.get(runId) ?? gate.queued(runId),
    summary: (runId) => coordinator.summary(runId),
    kept: () => coordinator.kept(),
    queues: () => Promise.resolve({ rows: queueRowsOf(coordinator.limitUses()), unanswered: [] }),
    cancel: (runId, reason) => coordinator.cancel(runId, reason),
    async close() {
      if (closed) return;
      closed = true;
      await coordinator.close();
      if (worker) await worker.stop({ graceful: false });
      if (ownTransport) await transport.close();
    },
  };
}
