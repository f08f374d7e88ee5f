/**
 * The coordinator: the runs this process drives, each in its own shell (run-shell.ts)
 * around the one fold (run-state.ts) and the one decider (decide.ts).
 *
 * - `start` decides a new run.
 * - `resume` folds a stored history and decides `resume`: the same code as a live run,
 *   picking up where the history stands (after a crash, or a takeover).
 * - `retry` folds a failed run's history and decides a partial re-run.
 * - `release` lets go of a run another coordinator took over (publishing nothing more).
 *
 * Each holder claims a run with `run.claimed` at a new lease epoch, written fenced on
 * the run's last decision: a coordinator that paused past its lease finds its next
 * write refused and lets the run go. Its identity includes a per-process nonce, so two
 * processes started with the same id are still two writers.
 *
 * Finished runs stay queryable by `get` — their record only, never their history — while
 * the records kept fit `keepFinishedBytes` (estimated heap bytes, record-size.ts); the
 * oldest are dropped first. A record alone over the budget is not kept at all.
 */
import { randomBytes } from "node:crypto";
import type { Workflow } from "../../dsl/workflow.js";
import { PlanMismatchError, RunNotFoundError, UsageError } from "../../errors/base.js";
import type { Plan } from "../../plan/schema.js";
import type { Logger } from "../../registry/types.js";
import type { ParentRef, StoredMessage } from "../../transport/messages.js";
import { noChildRuns, type ChildRuns } from "./child-runs.js";
import { watchChildren } from "./child-watch.js";
import { createPayloadCache } from "./payload-cache.js";
import type { Transport } from "../../transport/port.js";
import { defaultIdGenerator, systemClock, type Clock, type IdGenerator, type RandomSource } from "../../support/clock.js";
import { DEFAULT_DECIDE_SETTINGS, type DecideRandom, type DecideSettings, type Trigger } from "../core/decide.js";
import { historyEvents, lastDecisionSeqOf } from "../core/history.js";
import { createSilentLogger } from "../../support/logger.js";
import type { RunHandle } from "./run-handle.js";
import { runModelOf, type RunModel } from "../core/run-model.js";
import { upgradeIssues } from "../core/upgrade.js";
import { UpgradeRefusedError } from "../../errors/upgrade.js";
import type { RunRecord, RunSummary } from "../core/run-record-schema.js";
import { runRecordOf, summaryOf, type HeldRecord } from "../core/run-record.js";
import { chooseRetry, type RetryFrom } from "../core/run-retry.js";
import { estimateBytes } from "../core/record-size.js";
import { RunShell } from "./run-shell.js";
import { createMemoryLimitGate, type LimitGate } from "./limit-gate.js";
import type { LimitUse } from "../core/limits-table.js";
import { limitName } from "../core/limit-state.js";
import { observeLimits, phaseflowInstruments } from "../../telemetry/otel.js";
import { createRunState, foldEvents, isFinished, type RunState } from "../core/run-state.js";
import type { ResolvedRunOptions } from "../../support/run-options.js";

/** Default budget for finished runs' records kept in memory: 64 MiB. */
export const DEFAULT_KEEP_FINISHED_BYTES = 64 * 1024 * 1024;

export interface CoordinatorOptions {
  transport: Transport;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Default: the system clock. */
  clock?: Clock;
  /** Run ids. Default: time-ordered random ids (`run_...`). */
  ids?: IdGenerator;
  /** Backoff jitter. Default: Math.random. */
  random?: RandomSource;
  /** This coordinator's id (a per-process nonce is appended). Default "coordinator". */
  id?: string;
  /** Watchdog and lost-attempt settings. */
  settings?: Partial<DecideSettings>;
  /** Keep every event of running runs for `handle.events()`. Default true; a fleet coordinator turns it off to bound memory. */
  keepHistory?: boolean;
  /** Estimated heap bytes of finished runs' records kept for `get` (oldest dropped first). Default 64 MiB; 0 keeps none. */
  keepFinishedBytes?: number;
  /** Starts and cancels child runs for child nodes. Default: none (a child node fails with CHILD_START_FAILED). */
  children?: ChildRuns;
  /** How long a parent waits on a child before its coordinator reads the child's history for an end that never reached it (child-watch.ts). Default 30000. */
  childCheckMs?: number;
  /** Where runs' attempts take their task limits. Default: a gate in memory for this coordinator's runs (embedded); a fleet shares one in its KV store. */
  limits?: LimitGate;
  /**
   * The workflow and plan of every plan hash this coordinator knows, for runs that were
   * upgraded (README "Deploying new versions"): their history folds on the plan of each part, and
   * `upgrade` moves a run onto one of them. Default: only the plan each run is given with.
   */
  plans?: (planHash: string) => { workflow: Workflow<unknown>; plan: Plan } | undefined;
}

export interface StartRunParams {
  workflow: Workflow<unknown>;
  /** The workflow compiled (`compile(workflow)`). */
  plan: Plan;
  /** Already validated against the workflow's input schema. */
  input: unknown;
  options: Pick<ResolvedRunOptions, "schedule" | "onFailure" | "seed"> & { priority?: number | undefined };
  /** Default: a generated id. */
  runId?: string;
  /** A child run: its parent (recorded in run.started). */
  parent?: ParentRef | undefined;
}

export interface ResumeRunParams {
  workflow: Workflow<unknown>;
  /** The workflow compiled; must be the plan the run started with. */
  plan: Plan;
  /** The run's stored history (`(await transport.readHistory(runId)).messages`). */
  history: readonly StoredMessage[];
}

export interface RetryRunParams extends ResumeRunParams {
  /** Re-run from this task (and everything downstream of it) of the last visit of this state. Default: the failed tasks of the visit the run failed in. */
  from?: RetryFrom | undefined;
  /** Recorded in the run.retried event. */
  reason?: string | undefined;
}

export interface Coordinator {
  /** This coordinator's writer identity (id and nonce). */
  readonly owner: string;
  start(params: StartRunParams): RunHandle;
  /** @throws UsageError (no run.started, run already driven here), PlanMismatchError */
  resume(params: ResumeRunParams): RunHandle;
  /**
   * Resolves once the retry is stored (its claim with `run.retried`), so a retry that was
   * answered can no longer be lost to a crash.
   * @throws UsageError (the run did not fail, bad `from`), PlanMismatchError
   */
  retry(params: RetryRunParams): Promise<RunHandle>;
  /**
   * Move a run driven here onto `plan` (another version of its workflow, known to `plans`)
   * when it is compatible; resolves once the move is stored.
   * @throws RunNotFoundError (not driven here), UpgradeRefusedError (every incompatibility; nothing changed), UsageError
   */
  upgrade(runId: string, target: { workflow: Workflow<unknown>; plan: Plan }): Promise<void>;
  release(runId: string): void;
  /** Cancel a run driven here; resolves when it has ended. @throws RunNotFoundError */
  cancel(runId: string, reason?: string): Promise<void>;
  get(runId: string): RunRecord | undefined;
  /** A run's status and task counts, without building its task records (undefined when unknown). */
  summary(runId: string): RunSummary | undefined;
  handle(runId: string): RunHandle | undefined;
  /** The live state of a run driven here (for senders of signals), undefined when not driven here. */
  runState(runId: string): RunState | undefined;
  /** Attempts of a run driven here dispatched at or before `before` with nothing heard of them (RunShell.unstarted). */
  unstarted(runId: string, before: number): { dispatchId: string; epoch: number; dispatchedAt: number }[];
  /** Dispatch an attempt of a run driven here again now: its task message is gone with nothing heard of it. */
  lost(runId: string, dispatchId: string, reason: string): void;
  /** Finished runs' records kept for `get`: how many, and their estimated bytes. */
  kept(): { runs: number; bytes: number };
  /** Use of every task limit its gate knows: holdings (or starts in the window) and waiting attempts (`queues`). */
  limitUses(): LimitUse[];
  close(): Promise<void>;
}

/** Attempt tokens: 128 random bits each, drawn from a pooled buffer. */
function tokenSource(): () => string {
  let pool = Buffer.alloc(0);
  let at = 0;
  return () => {
    if (at + 16 > pool.length) {
      pool = randomBytes(16 * 1024);
      at = 0;
    }
    const t = pool.toString("base64url", at, at + 16);
    at += 16;
    return t;
  };
}

/**
 * Create a coordinator over a transport.
 * @example
 * const coordinator = createCoordinator({ transport });
 * const run = coordinator.start({ workflow: etl, plan: compile(etl), input, options: { schedule: "phases", onFailure: "fail-fast" } });
 * const record = await run.result();
 */
export function createCoordinator(options: CoordinatorOptions): Coordinator {
  const { transport } = options;
  const logger = options.logger ?? createSilentLogger();
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? defaultIdGenerator;
  const jitter = options.random ?? Math.random;
  const random: DecideRandom = { jitter: () => jitter(), token: tokenSource() };
  const settings: DecideSettings = { ...DEFAULT_DECIDE_SETTINGS, ...options.settings };
  const owner = `${options.id ?? "coordinator"}~${randomBytes(4).toString("hex")}`;
  const runs = new Map<string, RunShell>();
  // The parent checks on children it waited on a while: an end their coordinator stored but died before telling it of is not lost.
  const children = watchChildren(options.children ?? noChildRuns(transport, () => clock.now(), logger), {
    transport,
    clock,
    log: logger,
    ...(options.childCheckMs !== undefined ? { checkMs: options.childCheckMs } : {}),
    folded: (parentRunId, childRunId) => runs.get(parentRunId)?.state.childEnds.has(childRunId),
  });
  const limits = options.limits ?? createMemoryLimitGate(clock);
  const payloadCache = createPayloadCache();
  const unobserve = observeLimits(() => limits.uses().map((u) => ({ name: limitName(u.ref), kind: u.ref.kind, used: u.used, waiting: u.waiting })));
  // Gauges are read only while a meter provider is registered: make the instruments now, so a provider set earlier sees them.
  phaseflowInstruments();
  const budget = options.keepFinishedBytes ?? DEFAULT_KEEP_FINISHED_BYTES;
  // Oldest first; Map keeps insertion order, so dropping the oldest is taking the first key.
  const finishedById = new Map<string, { held: HeldRecord; bytes: number }>();
  let keptBytes = 0;
  const dropFinished = (runId: string): void => {
    const kept = finishedById.get(runId);
    if (!kept) return;
    finishedById.delete(runId);
    keptBytes -= kept.bytes;
  };
  let closed = false;

  const stopped = (shell: RunShell): void => {
    if (runs.get(shell.runId) !== shell) return;
    runs.delete(shell.runId);
    if (!isFinished(shell.state)) return;
    // The finished run's record (and its map instances' columns): nothing changes it any more.
    const held: HeldRecord = { record: shell.state.record, compact: shell.state.compact };
    dropFinished(shell.runId);
    const bytes = budget > 0 ? estimateBytes(held.record) + (held.compact?.bytes() ?? 0) : 0;
    if (budget <= 0 || bytes > budget) return;
    finishedById.set(shell.runId, { held, bytes });
    keptBytes += bytes;
    for (const oldest of finishedById.keys()) {
      if (keptBytes <= budget) break;
      dropFinished(oldest);
    }
  };

  const checkUsable = (params: { workflow: Workflow<unknown>; plan: Plan }): void => {
    if (closed) throw new UsageError("the coordinator is closed; create a new engine or coordinator to start runs");
    if (params.plan.workflow !== params.workflow.name) {
      throw new UsageError(`plan of workflow "${params.plan.workflow}" given with workflow "${params.workflow.name}"; pass compile(workflow) of the same workflow`);
    }
  };

  const models = (hash: string): RunModel | undefined => {
    const known = options.plans?.(hash);
    return known && runModelOf(known.plan, known.workflow);
  };
  const newState = (runId: string, params: { workflow: Workflow<unknown>; plan: Plan }): RunState => createRunState(runId, runModelOf(params.plan, params.workflow), { compact: true, models, payloads: payloadCache });

  const shellFor = (state: ReturnType<typeof createRunState>, lastSeq: number, folded: Parameters<typeof foldEvents>[1] extends Iterable<infer E> ? readonly E[] : never): RunShell => {
    const shell = new RunShell(state, lastSeq, { transport, clock, random, settings, log: logger.child({ runId: state.runId }), owner, keepHistory: options.keepHistory ?? true, onStop: stopped, children, limits, payloadCache }, folded);
    runs.set(state.runId, shell);
    dropFinished(state.runId);
    return shell;
  };

  /** Fold a history given to resume or retry and check it belongs to this workflow. */
  const adopt = (params: ResumeRunParams) => {
    checkUsable(params);
    const events = historyEvents(params.history);
    const first = events[0];
    if (first?.type !== "run.started") {
      throw new UsageError("the history given does not begin with run.started; pass (await transport.readHistory(runId)).messages of a run that was started");
    }
    const { runId } = first;
    if (first.workflow !== params.plan.workflow) {
      throw new UsageError(`run "${runId}" is a run of workflow "${first.workflow}", not "${params.plan.workflow}"; pass the workflow it was started with`);
    }
    // The plan it is on now: the one it started with, or the one its last upgrade moved it onto.
    let pinned = first.planHash;
    for (const e of events) if (e.type === "run.upgraded") pinned = e.planHash;
    if (pinned !== params.plan.planHash) throw new PlanMismatchError(runId, first.workflow, pinned, params.plan.planHash);
    if (runs.has(runId)) throw new UsageError(`run "${runId}" is already driven by this coordinator; use its handle, or release(runId) first`);
    const state = foldEvents(newState(runId, params), events);
    return { state, events, lastSeq: lastDecisionSeqOf(params.history) };
  };

  const launch = (shell: RunShell, trigger: Trigger): RunShell => {
    void shell.begin(trigger);
    return shell;
  };

  return {
    owner,
    start(params) {
      checkUsable(params);
      const runId = params.runId ?? ids();
      if (runs.has(runId) || finishedById.has(runId)) throw new UsageError(`run id "${runId}" is already in use; choose another runId or leave it out`);
      const state = newState(runId, params);
      return launch(shellFor(state, 0, []), { type: "start", input: params.input, options: params.options, owner, epoch: 1, parent: params.parent });
    },
    resume(params) {
      const { state, events, lastSeq } = adopt(params);
      const shell = shellFor(state, lastSeq, events);
      if (isFinished(state)) {
        // Nothing to drive: the handle just reports the record.
        void shell.begin({ type: "resume", owner, epoch: state.epoch + 1 });
        return shell;
      }
      return launch(shell, { type: "resume", owner, epoch: state.epoch + 1 });
    },
    async retry(params) {
      const { state, events, lastSeq } = adopt(params);
      const trigger: Trigger = { type: "retry", from: params.from, reason: params.reason, owner, epoch: state.epoch + 1 };
      // Checked before anything is registered or stored, so a bad request changes nothing.
      chooseRetry(params.plan, state, params.from, params.reason);
      const shell = launch(shellFor(state, lastSeq, events), trigger);
      await shell.claimStored();
      return shell;
    },
    async upgrade(runId, target) {
      checkUsable(target);
      const shell = runs.get(runId);
      if (!shell) throw new RunNotFoundError(runId);
      const st = shell.state;
      const r = st.record;
      if (isFinished(st)) throw new UsageError(`run "${runId}" has ended (${r.status}); only a running run can be upgraded`);
      if (target.plan.workflow !== r.workflow) throw new UsageError(`run "${runId}" is a run of workflow "${r.workflow}", not "${target.plan.workflow}"`);
      if (target.plan.planHash === r.planHash) return;
      if (st.models?.(target.plan.planHash)?.plan.planHash !== target.plan.planHash) throw new UsageError(`plan ${target.plan.planHash.slice(0, 12)} of ${r.workflow}@${target.plan.version} is not known to this coordinator; give it in its plans`);
      const issues = upgradeIssues(r, target.plan, st.model?.plan);
      if (issues.length > 0) throw new UpgradeRefusedError(runId, r.workflow, r.version, target.plan.version, issues);
      await shell.upgrade(target.plan.planHash);
    },
    release(runId) {
      runs.get(runId)?.release();
    },
    async cancel(runId, reason) {
      const shell = runs.get(runId);
      if (!shell) {
        if (finishedById.has(runId)) return;
        throw new RunNotFoundError(runId);
      }
      await shell.cancel(reason);
    },
    get: (runId) => {
      const shell = runs.get(runId);
      if (shell) return shell.status();
      const kept = finishedById.get(runId);
      return kept && runRecordOf(kept.held);
    },
    summary: (runId) => {
      const shell = runs.get(runId);
      if (shell) return shell.summary();
      const kept = finishedById.get(runId);
      return kept && summaryOf(kept.held);
    },
    kept: () => ({ runs: finishedById.size, bytes: keptBytes }),
    limitUses: () => limits.uses(),
    handle: (runId) => runs.get(runId),
    runState: (runId) => runs.get(runId)?.state,
    unstarted: (runId, before) => runs.get(runId)?.unstarted(before) ?? [],
    lost: (runId, dispatchId, reason) => runs.get(runId)?.attemptLost(dispatchId, reason),
    close() {
      if (!closed) {
        closed = true;
        for (const shell of [...runs.values()]) shell.abandon();
        children.close();
        if (options.limits === undefined) limits.close();
        unobserve();
      }
      return Promise.resolve();
    },
  };
}
