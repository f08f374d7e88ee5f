/**
 * Schedules and polling sources served by an embedded engine: the same loop the fleet
 * coordinators run (src/triggers/trigger-loop.ts), with the engine's in-memory start
 * keys and a Map for the trigger states. It lasts as long as the process: ticks missed
 * while it was not running are not known to it, so it starts from the first tick after
 * it was started (catch-up applies to coordinators, whose states are in KV).
 * A source pass runs its executor on the engine's in-process worker.
 */
import { compile } from "../compiler/compile.js";
import type { Workflow } from "../dsl/workflow.js";
import { UsageError } from "../errors/base.js";
import { WorkflowValidationError, type ValidationIssue } from "../errors/validation.js";
import type { Logger } from "../registry/types.js";
import { resolveTriggers } from "../triggers/resolve.js";
import { servedTriggers } from "../triggers/source-workflow.js";
import { createTriggerLoop, type RunOutcome, type ServedTriggers } from "../triggers/trigger-loop.js";
import { createMemoryTriggerStore, type TriggerStateStore } from "../triggers/trigger-state.js";
import { systemClock, type Clock } from "../support/clock.js";
import type { Engine } from "./engine.js";
import { createSilentLogger } from "../support/logger.js";
import type { RunHandle } from "../runtime/shell/run-handle.js";

export interface ServeTriggersOptions {
  engine: Engine;
  /** The workflows whose schedules and sources to serve. */
  workflows: readonly Workflow<unknown>[];
  /** Must be the engine's clock. Default: the system clock. */
  clock?: Clock;
  logger?: Logger;
  /** Default: a new in-memory store. */
  store?: TriggerStateStore;
  /** Longest sleep between evaluations. Default 30 s. */
  maxSleepMs?: number;
}

export interface TriggerServer {
  /** Runs started by the schedules and sources so far (their handles, by run id). */
  readonly runs: ReadonlyMap<string, RunHandle>;
  /** Resolves when the loop is between evaluations. */
  idle(): Promise<void>;
  stop(): void;
}

/**
 * Serve the schedules and sources of `workflows` on an embedded engine.
 * @example
 * const engine = createEngine({ registry });
 * const triggers = await serveTriggers({ engine, workflows: [nightly] });
 * // ... later
 * triggers.stop(); await engine.close();
 */
export async function serveTriggers(o: ServeTriggersOptions): Promise<TriggerServer> {
  const clock = o.clock ?? systemClock;
  const logger = o.logger ?? createSilentLogger();
  const byName = new Map<string, Workflow<unknown>>();
  const served: ServedTriggers[] = [];
  for (const wf of o.workflows) {
    if (byName.has(wf.name)) throw new UsageError(`two workflows are named "${wf.name}"; serve each workflow once`);
    compile(wf); // every issue of the workflow, its schedules and sources included
    const issues: ValidationIssue[] = [];
    const triggers = resolveTriggers(wf, issues);
    if (issues.length > 0) throw new WorkflowValidationError(wf.name, issues);
    const { served: s, passWorkflows } = servedTriggers(wf, triggers);
    byName.set(wf.name, wf);
    for (const p of passWorkflows) byName.set(p.name, p);
    served.push(s);
  }
  const runs = new Map<string, RunHandle>();
  const loop = createTriggerLoop({
    served,
    store: o.store ?? createMemoryTriggerStore(),
    clock,
    logger,
    ...(o.maxSleepMs !== undefined ? { maxSleepMs: o.maxSleepMs } : {}),
    starter: {
      async start(workflow, input, key, runId) {
        const wf = byName.get(workflow)!;
        const prior = o.engine.keyedRun(workflow, key);
        const handle = await o.engine.run(wf, input, { key, ...(runId !== undefined && prior === undefined ? { runId } : {}) });
        runs.set(handle.runId, handle);
        return { runId: handle.runId, created: prior === undefined };
      },
      outcome(runId): Promise<RunOutcome> {
        const record = o.engine.get(runId);
        if (!record) return Promise.resolve("unknown");
        if (record.status === "pending" || record.status === "running") return Promise.resolve("running");
        if (record.status === "succeeded") return Promise.resolve({ status: "succeeded", output: record.tasks[0]?.output });
        return Promise.resolve({ status: record.status, reason: record.error?.message ?? record.status });
      },
      ended: (runId) => runs.get(runId)?.result(),
    },
  });
  await loop.start();
  return { runs, idle: () => loop.idle(), stop: () => loop.stop() };
}
