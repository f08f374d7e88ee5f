/**
 * The coordinator: starts runs, drives each with its run machine, and routes the
 * workers' attempt reports to the run they belong to. It subscribes to the
 * transport's events once; every decision it takes goes out as a RunEvent, so a run's
 * history alone describes it (DESIGN "Run history").
 *
 * Runs live in memory. Finished runs stay queryable by `get` until more than
 * `KEEP_FINISHED_RUNS` (1000) newer ones finished; their handles keep working regardless.
 *
 * Nothing is lost when a coordinator dies: `resume` picks a run up from its event
 * history alone (after a crash, or when another coordinator takes over a run whose
 * lease expired), `retry` re-runs a failed run from its failed tasks in the same
 * history, and `release` lets go of a run another coordinator took over.
 */
import type { Workflow } from "../dsl/workflow.js";
import { PlanMismatchError, RunNotFoundError, UsageError } from "../errors/base.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { RunEvent } from "../transport/messages.js";
import type { Subscription, Transport } from "../transport/port.js";
import { defaultIdGenerator, systemClock, type Clock, type IdGenerator, type RandomSource } from "./clock.js";
import { CoordinatedRun, type RunHandle } from "./coordinator-run.js";
import { createSilentLogger } from "./logger.js";
import { analyzeHistory } from "./run-recovery.js";
import type { RunRecord } from "./run-record-schema.js";
import { chooseRetry, type RetryFrom } from "./run-retry.js";
import type { ResolvedRunOptions } from "./run-options.js";

export const KEEP_FINISHED_RUNS = 1000;

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
}

export interface StartRunParams {
  workflow: Workflow<unknown>;
  /** The workflow compiled (`compile(workflow)`). */
  plan: Plan;
  /** Already validated against the workflow's input schema. */
  input: unknown;
  options: Pick<ResolvedRunOptions, "schedule" | "onFailure">;
  /** Default: `options.runId`, else a generated id. */
  runId?: string;
}

export interface ResumeRunParams {
  workflow: Workflow<unknown>;
  /** The workflow compiled (`compile(workflow)`); must be the plan the run started with. */
  plan: Plan;
  /** The run's whole stored history, in order (`transport.readRunEvents(runId)`). */
  events: readonly RunEvent[];
}

export interface RetryRunParams extends ResumeRunParams {
  /** Re-run from this task (and everything downstream of it) of the last visit of this state. Default: the failed tasks of the visit the run failed in. */
  from?: RetryFrom | undefined;
  /** Recorded in the run.retried event. Default: a description of what is re-run. */
  reason?: string | undefined;
}

export interface Coordinator {
  /** Start a run; events start flowing once the coordinator's subscription is ready. */
  start(params: StartRunParams): RunHandle;
  /**
   * Pick a run up from its history: a finished one just reports its record (nothing
   * is published); an unfinished one carries on where the history stands.
   * @throws UsageError (no run.started, run already driven here), PlanMismatchError
   */
  resume(params: ResumeRunParams): RunHandle;
  /**
   * Re-run a failed run from its failed tasks (or `from`), in the same history.
   * @throws UsageError (the run did not fail, bad `from`), PlanMismatchError
   */
  retry(params: RetryRunParams): RunHandle;
  /** Stop driving a run without publishing anything (another coordinator took it); its result() rejects with RunReleasedError. No-op for an unknown run. */
  release(runId: string): void;
  /** Cancel a run; resolves when it has ended. @throws RunNotFoundError for an unknown run id */
  cancel(runId: string, reason?: string): Promise<void>;
  /** The run's record now, or undefined for an unknown run. */
  get(runId: string): RunRecord | undefined;
  /** Stop: unfinished runs are abandoned (their result() rejects with EngineClosedError). */
  close(): Promise<void>;
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
  const random = options.random ?? Math.random;
  const runs = new Map<string, CoordinatedRun>();
  const finished: CoordinatedRun[] = [];
  let closed = false;

  const onEvent = (event: RunEvent): void => {
    runs.get(event.runId)?.observe(event);
  };
  const ended = (run: CoordinatedRun): void => {
    finished.push(run);
    while (finished.length > KEEP_FINISHED_RUNS) {
      const old = finished.shift()!;
      if (runs.get(old.runId) === old) runs.delete(old.runId);
    }
  };
  const subscription: Promise<Subscription> = transport.subscribeEvents(onEvent);
  // Surfaced through each run's result(); keep it from becoming an unhandled rejection here.
  subscription.catch((err: unknown) => logger.error({ err }, "the coordinator could not subscribe to run events"));

  const lookup = (runId: string): CoordinatedRun => {
    const run = runs.get(runId);
    if (!run) throw new RunNotFoundError(runId);
    return run;
  };

  const checkUsable = (params: { workflow: Workflow<unknown>; plan: Plan }): void => {
    if (closed) throw new UsageError("the coordinator is closed; create a new engine or coordinator to start runs");
    if (params.plan.workflow !== params.workflow.name) {
      throw new UsageError(`plan of workflow "${params.plan.workflow}" given with workflow "${params.workflow.name}"; pass compile(workflow) of the same workflow`);
    }
  };

  const create = (runId: string, params: Omit<StartRunParams, "runId">): CoordinatedRun => {
    const run: CoordinatedRun = new CoordinatedRun({ runId, ...params, transport, clock, random, log: logger.child({ runId }), onEnd: () => ended(run) });
    return run;
  };

  /** Check a history given to resume or retry and register its run, seeded with it. */
  const adopt = (params: ResumeRunParams, retrying: boolean): CoordinatedRun => {
    checkUsable(params);
    const point = analyzeHistory(params.events);
    if (!point) throw new UsageError("the history given does not begin with run.started; pass transport.readRunEvents(runId) of a run that was started");
    const { started, runId } = point;
    if (started.workflow !== params.plan.workflow) {
      throw new UsageError(`run "${runId}" is a run of workflow "${started.workflow}", not "${params.plan.workflow}"; pass the workflow it was started with`);
    }
    if (started.planHash !== params.plan.planHash) throw new PlanMismatchError(runId, started.workflow, started.planHash, params.plan.planHash);
    const existing = runs.get(runId);
    if (existing && !existing.finished) throw new UsageError(`run "${runId}" is already driven by this coordinator; use its handle, or release(runId) first`);
    const run = create(runId, { workflow: params.workflow, plan: params.plan, input: started.input, options: started.options });
    run.seed(params.events, retrying);
    runs.set(runId, run);
    return run;
  };

  const drive = (run: CoordinatedRun, retry?: Omit<RetryRunParams, keyof ResumeRunParams>): void => {
    subscription.then(
      () => run.pickUp(retry),
      (err: unknown) => run.break(err),
    );
  };

  return {
    start(params) {
      checkUsable(params);
      const runId = params.runId ?? ids();
      if (runs.has(runId)) throw new UsageError(`run id "${runId}" is already in use; choose another runId or leave it out`);
      const run = create(runId, { workflow: params.workflow, plan: params.plan, input: params.input, options: params.options });
      runs.set(runId, run);
      subscription.then(
        () => run.begin(),
        (err: unknown) => run.break(err),
      );
      return run;
    },
    resume(params) {
      const run = adopt(params, false);
      if (!run.finished) drive(run);
      return run;
    },
    retry(params) {
      checkUsable(params);
      const point = analyzeHistory(params.events);
      // Checked before anything is registered, so a bad request changes nothing.
      if (point && point.started.planHash === params.plan.planHash) chooseRetry(params.plan, point, params.from, params.reason);
      const run = adopt(params, true);
      drive(run, { from: params.from, reason: params.reason });
      return run;
    },
    release(runId) {
      const run = runs.get(runId);
      if (!run) return;
      runs.delete(runId);
      run.release();
    },
    cancel: (runId, reason) => lookup(runId).cancel(reason),
    get: (runId) => runs.get(runId)?.status(),
    async close() {
      if (closed) return;
      closed = true;
      for (const run of runs.values()) if (!run.finished) run.abandon();
      try {
        await (await subscription).stop();
      } catch {
        // The subscription never came up: nothing to stop.
      }
    },
  };
}
