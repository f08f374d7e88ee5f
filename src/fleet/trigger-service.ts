/**
 * Schedules and polling sources in a coordinator: the trigger loop
 * (src/triggers/trigger-loop.ts) over the coordinator's own start path (so every
 * start is a keyed `run.start`: validated, claimed in KV, leased, retained) and trigger
 * states in `<p>_runs` (`sched.*`, `src.*`), which `phaseflow schedules` lists.
 *
 * Every coordinator serving a workflow serves its triggers; the start keys make their
 * starts agree (one run per tick, one per source item, one pass per period).
 */
import type { Workflow } from "../dsl/workflow.js";
import type { Logger } from "../registry/types.js";
import { systemClock } from "../support/clock.js";
import { isRunFinished, recordOfHistory } from "../runtime/core/run-record.js";
import type { FleetTransport } from "../transport/fleet-port.js";
import { resolveTriggers } from "../triggers/resolve.js";
import { servedTriggers } from "../triggers/source-workflow.js";
import { createTriggerLoop, type RunOutcome, type ServedTriggers, type TriggerLoop } from "../triggers/trigger-loop.js";
import { TRIGGER_KEY_FILTERS, triggerStateSchema, type TriggerState, type TriggerStateStore } from "../triggers/trigger-state.js";
import type { RunDriver } from "./run-driver.js";

/** The trigger states of a deployment, as the coordinators last wrote them. */
export async function readTriggerStates(transport: Pick<FleetTransport, "store">): Promise<TriggerState[]> {
  return storedTriggerStates(transport).list();
}

/** Trigger states in the fleet's `runs` store (`sched.*`, `src.*`). */
export function storedTriggerStates(transport: Pick<FleetTransport, "store">): TriggerStateStore {
  const kv = transport.store("runs", triggerStateSchema);
  return {
    get: (key) => kv.get(key),
    create: (key, value) => kv.create(key, value),
    update: (key, value, revision) => kv.update(key, value, revision),
    async list() {
      const keys = (await Promise.all(TRIGGER_KEY_FILTERS.map((f) => kv.keys(f)))).flat();
      return (await Promise.all(keys.map((k) => kv.get(k)))).flatMap((e) => (e ? [e.value] : []));
    },
  };
}

/**
 * The pass workflows the sources of `workflows` need (the coordinator serves them
 * too, so a pass whose coordinator died is taken over like any run), and what to serve.
 */
export function triggersOf(workflows: readonly Workflow<unknown>[]): { served: ServedTriggers[]; passWorkflows: Workflow<unknown>[] } {
  const served: ServedTriggers[] = [];
  const passWorkflows: Workflow<unknown>[] = [];
  for (const wf of workflows) {
    const triggers = resolveTriggers(wf, []); // compile() has already reported every issue
    if (triggers.schedules.length === 0 && triggers.sources.length === 0) continue;
    const t = servedTriggers(wf, triggers);
    served.push(t.served);
    passWorkflows.push(...t.passWorkflows);
  }
  return { served, passWorkflows };
}

export interface TriggerServiceOptions {
  transport: Pick<FleetTransport, "store" | "readHistory">;
  served: readonly ServedTriggers[];
  driver: RunDriver;
  /** The coordinator's start: `{ existing }` true when the key had started the run before. */
  start(workflow: string, input: unknown, options: { key: string; runId?: string }): Promise<{ runId: string; existing?: boolean }>;
  logger: Logger;
}

/** Start serving; `stop()` before the coordinator closes. */
export async function startTriggerService(o: TriggerServiceOptions): Promise<TriggerLoop | undefined> {
  if (o.served.length === 0) return undefined;
  const loop = createTriggerLoop({
    served: o.served,
    store: storedTriggerStates(o.transport),
    clock: systemClock,
    logger: o.logger,
    starter: {
      async start(workflow, input, key, runId) {
        const r = await o.start(workflow, input, { key, ...(runId !== undefined ? { runId } : {}) });
        return { runId: r.runId, created: r.existing !== true };
      },
      async outcome(runId): Promise<RunOutcome> {
        const held = o.driver.handle(runId)?.status();
        const record = held ?? (await o.transport.readHistory(runId).then(({ messages }) => (messages.length > 0 ? recordOfHistory(messages) : undefined)));
        if (!record) return (await o.driver.store.get(runId)) !== undefined ? "running" : "unknown"; // pending, waiting for workers
        if (!isRunFinished(record)) return "running";
        if (record.status === "succeeded") return { status: "succeeded", output: record.tasks[0]?.output };
        return { status: record.status === "cancelled" ? "cancelled" : "failed", reason: record.error?.message ?? record.status };
      },
      ended: (runId) => o.driver.handle(runId)?.result(),
    },
  });
  await loop.start();
  return loop;
}
