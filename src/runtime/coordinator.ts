/**
 * The coordinator: starts runs, drives each with its run machine, and routes the
 * workers' attempt reports to the run they belong to. It subscribes to the
 * transport's events once; every decision it takes goes out as a RunEvent, so a run's
 * history alone describes it (DESIGN "Run history").
 *
 * Runs live in memory. Finished runs stay queryable by `get` until more than
 * `KEEP_FINISHED_RUNS` (1000) newer ones finished; their handles keep working regardless.
 * Recovery of unfinished runs from the event history is not built yet.
 */
import type { Workflow } from "../dsl/workflow.js";
import { RunNotFoundError, UsageError } from "../errors/base.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { RunEvent } from "../transport/messages.js";
import type { Subscription, Transport } from "../transport/port.js";
import { defaultIdGenerator, systemClock, type Clock, type IdGenerator, type RandomSource } from "./clock.js";
import { CoordinatedRun, type RunHandle } from "./coordinator-run.js";
import { createSilentLogger } from "./logger.js";
import type { RunRecord } from "./run-record-schema.js";
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

export interface Coordinator {
  /** Start a run; events start flowing once the coordinator's subscription is ready. */
  start(params: StartRunParams): RunHandle;
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
  const finished: string[] = [];
  let closed = false;

  const onEvent = (event: RunEvent): void => {
    const run = runs.get(event.runId);
    if (!run) return;
    const wasFinished = run.finished;
    run.observe(event);
    if (!wasFinished && run.finished) {
      finished.push(run.runId);
      while (finished.length > KEEP_FINISHED_RUNS) runs.delete(finished.shift()!);
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

  return {
    start(params) {
      if (closed) throw new UsageError("the coordinator is closed; create a new engine or coordinator to start runs");
      if (params.plan.workflow !== params.workflow.name) {
        throw new UsageError(`plan of workflow "${params.plan.workflow}" given with workflow "${params.workflow.name}"; pass compile(workflow) of the same workflow`);
      }
      const runId = params.runId ?? ids();
      if (runs.has(runId)) throw new UsageError(`run id "${runId}" is already in use; choose another runId or leave it out`);
      const run = new CoordinatedRun({
        runId,
        workflow: params.workflow,
        plan: params.plan,
        input: params.input,
        options: params.options,
        transport,
        clock,
        random,
        log: logger.child({ runId }),
      });
      runs.set(runId, run);
      subscription.then(
        () => run.begin(),
        (err: unknown) => run.break(err),
      );
      return run;
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
