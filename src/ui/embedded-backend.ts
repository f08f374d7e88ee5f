/**
 * The web view's backend for `phaseflow run --ui`: the runs this process's engine
 * started, read from its coordinator and its memory transport (the same history and
 * live signals a fleet stores in NATS), cancelled and retried through the engine.
 * The one worker is the in-process worker.
 */
import { hostname } from "node:os";
import { compile } from "../compiler/compile.js";
import type { Workflow } from "../dsl/workflow.js";
import { RunNotFoundError } from "../errors/base.js";
import type { WorkerHeartbeat } from "../fleet/heartbeat.js";
import { compareNewestFirst, cursorOf, isAfterCursor } from "../fleet/run-list-order.js";
import type { Plan } from "../plan/schema.js";
import type { Registry } from "../registry/registry.js";
import type { Engine } from "../embedded/engine.js";
import type { RunRecord, RunSummary } from "../runtime/core/run-record-schema.js";
import { summaryFieldsOf } from "../runtime/core/run-record.js";
import type { Transport } from "../transport/port.js";
import type { UiBackend } from "./backend.js";
import { followRunUpdates } from "./follow.js";
import { DEFAULT_MAX_CHILD_DEPTH } from "../runtime/core/children.js";

export interface EmbeddedBackendOptions {
  engine: Engine;
  /** The engine's transport (the memory transport it runs on). */
  transport: Transport;
  workflow: Workflow<unknown>;
  registry: Registry;
  /** The in-process worker's concurrency. */
  concurrency: number;
}

export interface EmbeddedBackend extends UiBackend {
  /** Show this run (the engine started it). */
  track(runId: string): void;
}

const startedAt = Date.now();

/**
 * A backend over an embedded engine; `close()` leaves the engine to its owner.
 * @example const backend = createEmbeddedBackend({ engine, transport, workflow, registry, concurrency: 16 });
 */
export function createEmbeddedBackend(o: EmbeddedBackendOptions): EmbeddedBackend {
  const runs = new Set<string>();
  let plan: Plan | undefined;
  const planOfWorkflow = (): Plan => (plan ??= compile(o.workflow, { registry: o.registry }));
  /** A run started here, or a child run (at any depth) of one: the page links parent and children. */
  const known = (runId: string, depth = 0): boolean => {
    if (runs.has(runId)) return true;
    const parent = depth <= DEFAULT_MAX_CHILD_DEPTH ? o.engine.summary(runId)?.parent : undefined;
    return parent !== undefined && known(parent, depth + 1);
  };
  const recordOf = (runId: string): RunRecord => {
    const record = known(runId) ? o.engine.get(runId) : undefined;
    if (!record) throw new RunNotFoundError(runId);
    return record;
  };
  // From the engine's counts: a list never builds every task record of a big map.
  const summaryOf = (r: RunSummary): RunSummary => summaryFieldsOf(r, { error: false });

  return {
    mode: "embedded",
    track: (runId) => void runs.add(runId),
    listRuns({ limit, workflow, status, parent, before }) {
      // A parent's children are listed from its record (the engine names them in its task records).
      const children = parent !== undefined && known(parent) ? (o.engine.get(parent)?.tasks ?? []).flatMap((t) => (t.child !== undefined ? [t.child] : [])) : [];
      const all = [...new Set([...runs, ...children])]
        .flatMap((id) => {
          const r = o.engine.summary(id);
          return r ? [summaryOf(r)] : [];
        })
        .filter((s) => (workflow === undefined || s.workflow === workflow) && (status === undefined || s.status === status) && (parent === undefined || s.parent === parent))
        .filter((s) => before === undefined || isAfterCursor(cursorOf(s), before))
        .sort((a, b) => compareNewestFirst(cursorOf(a), cursorOf(b)));
      const page = all.slice(0, limit);
      const last = page[page.length - 1];
      return Promise.resolve(all.length > limit && last ? { runs: page, next: cursorOf(last) } : { runs: page });
    },
    getRun: (runId) => Promise.resolve().then(() => recordOf(runId)),
    planOf: ({ planHash }) => Promise.resolve().then(() => {
      const p = planOfWorkflow();
      return p.planHash === planHash ? p : undefined;
    }),
    follow(runId, onUpdate) {
      recordOf(runId);
      return followRunUpdates(o.transport, runId, onUpdate);
    },
    async cancel(runId, reason) {
      recordOf(runId);
      await o.engine.cancel(runId, reason);
      return recordOf(runId).status;
    },
    async retry(runId, from) {
      recordOf(runId);
      const { messages } = await o.transport.readHistory(runId);
      await o.engine.retry(o.workflow, messages, from);
    },
    workers() {
      const tasks = [...runs].flatMap((id) => o.engine.get(id)?.tasks ?? []);
      const executors = o.registry.keys();
      const worker: WorkerHeartbeat = {
        // The in-process worker's id, as its attempts name it.
        workerId: tasks.find((t) => t.workerId !== undefined)?.workerId ?? "in-process",
        host: hostname(),
        pid: process.pid,
        namespaces: [...new Set(executors.map((k) => k.split("/")[0] ?? k))],
        executors,
        concurrency: o.concurrency,
        inFlight: tasks.filter((t) => t.status === "running" || t.status === "dispatched").length,
        completed: tasks.filter((t) => t.status === "succeeded").length,
        failed: tasks.filter((t) => t.status === "failed").length,
        malformed: 0,
        startedAt,
        at: Date.now(),
      };
      return Promise.resolve([worker]);
    },
    // The engine's task limits per key, as a fleet's `phaseflow queues` shows them (the Workers page).
    queues: () => o.engine.queues(),
    close: () => Promise.resolve(),
  };
}
