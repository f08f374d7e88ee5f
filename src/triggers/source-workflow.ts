/**
 * A source's pass as a workflow of its own: one state, one task running the source's
 * executor. Running passes as runs reuses the whole worker path — dispatch on the
 * executor's task subject, timeouts, reports, leases and takeover — instead of a
 * second way of calling executors. Pass runs are named `<workflow>__source_<id>`.
 */
import { workflow, type Workflow } from "../dsl/workflow.js";
import type { ResolvedSource } from "./resolve.js";
import type { ResolvedTriggers } from "./resolve.js";
import type { ServedTriggers } from "./trigger-loop.js";

/** The name of a source's pass workflow. */
export const passWorkflowName = (workflowName: string, sourceId: string): string => `${workflowName}__source_${sourceId}`;

/** The one-task workflow a source's passes run; its task gets `{ source, tick }`. */
export function sourcePassWorkflow(owner: Workflow<unknown>, src: ResolvedSource): Workflow<unknown> {
  const wf = workflow(passWorkflowName(owner.name, src.id), { version: owner.options.version, description: `polls source "${src.id}" of workflow "${owner.name}"` });
  wf.state("poll").task("list", { executor: src.executor, timeoutMs: src.timeoutMs });
  return wf;
}

/** The triggers of a workflow, with the pass workflows its sources need. */
export function servedTriggers(owner: Workflow<unknown>, triggers: ResolvedTriggers): { served: ServedTriggers; passWorkflows: Workflow<unknown>[] } {
  const passWorkflows = triggers.sources.map((s) => sourcePassWorkflow(owner, s));
  return {
    served: { workflow: owner.name, schedules: triggers.schedules, sources: triggers.sources.map((source, i) => ({ source, passWorkflow: passWorkflows[i]!.name })) },
    passWorkflows,
  };
}
