/**
 * Child runs of an embedded engine (README "Workflows that call workflows"): started on the engine's own coordinator,
 * as real runs with their own history. The workflow of a child is looked up among the
 * workflows the engine knows (its catalog, workflow-catalog.ts): every one it ran (and every workflow those call by handle,
 * transitively), and those given as `createEngine({ workflows })`. By name without a
 * version, the latest version known (versions ordered naturally: "2" < "10").
 *
 * Starting is idempotent by the child's run id: a child being driven here is left alone;
 * one with a stored history is not started again: ended, its end is stored on the parent
 * again (the parent may have missed it); unfinished (its engine died), it is resumed here.
 */
import type { Workflow } from "../dsl/workflow.js";
import type { WorkflowCatalog } from "./workflow-catalog.js";
import { ChildStartError } from "../errors/children.js";
import type { Logger } from "../registry/types.js";
import type { Plan } from "../plan/schema.js";
import { formatIssues, toSchemaIssues } from "../support/schema-issues.js";
import type { ChildStart } from "../runtime/core/children.js";
import { storeStartFailure, type ChildRuns } from "../runtime/shell/child-runs.js";
import type { Coordinator } from "../runtime/shell/coordinator.js";
import { WIRE_VERSION, type ChildEndedMessage } from "../transport/messages.js";
import { recordOfHistory } from "../runtime/core/run-record.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { Transport } from "../transport/port.js";

export interface EmbeddedChildRunsDeps {
  transport: Transport;
  catalog: WorkflowCatalog;
  coordinator: () => Coordinator;
  planOf: (wf: Workflow<unknown>) => Plan;
  now: () => number;
  log: Logger;
}

/** Children of runs driven by an embedded engine, on its own coordinator. */
export function embeddedChildRuns(d: EmbeddedChildRunsDeps): ChildRuns {
  const fail = (start: ChildStart, error: ChildStartError): void => void storeStartFailure(d.transport, start, error, d.now(), d.log);
  /** Starts under way (the history is read first): a second ask for the same child waits for none. */
  const starting = new Set<string>();
  /** Children cancelled while their start was under way: cancelled once started. */
  const cancelledEarly = new Map<string, string>();
  const storeEnd = (start: ChildStart, ended: RunRecord): void => {
    // Started before and ended: store its end on the parent again (the fold takes the first).
    const message: ChildEndedMessage = { v: WIRE_VERSION, kind: "child", type: "child.ended", runId: start.parent.runId, at: d.now(), child: start.runId, status: ended.status === "succeeded" ? "succeeded" : ended.status === "cancelled" ? "cancelled" : "failed" };
    if (ended.output !== undefined) message.output = ended.output;
    if (ended.error !== undefined) message.error = ended.error;
    d.transport.appendChildEnd(message).catch((err: unknown) => d.log.error({ err, child: start.runId }, "could not store a child's end on its parent again"));
  };
  const begin = async (start: ChildStart): Promise<void> => {
    const coordinator = d.coordinator();
    if (coordinator.handle(start.runId)) return;
    const kept = coordinator.get(start.runId);
    if (kept) return storeEnd(start, kept);
    const wf = d.catalog.find(start.workflow, start.version)?.workflow;
    const { messages } = await d.transport.readHistory(start.runId);
    if (coordinator.handle(start.runId)) return;
    if (messages.length > 0) {
      const stored = recordOfHistory(messages);
      if (stored.status === "succeeded" || stored.status === "failed" || stored.status === "cancelled") return storeEnd(start, stored);
      const own = stored.workflow === wf?.name && stored.version === wf.version ? wf : d.catalog.find(stored.workflow, stored.version)?.workflow;
      if (!own) return fail(start, new ChildStartError("CHILD_WORKFLOW_UNKNOWN", `child run "${start.runId}" of workflow "${stored.workflow}" version "${stored.version}" is unfinished, and this engine does not know that workflow to resume it`));
      // Its engine died under it: carry it on here.
      coordinator.resume({ workflow: own, plan: d.planOf(own), history: messages });
      return;
    }
    create(start, wf);
  };
  const create = (start: ChildStart, wf: Workflow<unknown> | undefined): void => {
    const coordinator = d.coordinator();
    if (!wf) {
      const known = d.catalog.names().sort();
      fail(start, new ChildStartError("CHILD_WORKFLOW_UNKNOWN", `child node "${start.parent.state}/${start.parent.task}" of run "${start.parent.runId}" runs workflow "${start.workflow}"${start.version === null ? "" : ` version "${start.version}"`}, which this engine does not know (known: ${known.join(", ") || "none"}); pass its handle, or createEngine({ workflows: [...] })`));
      return;
    }
    let input = start.input;
    if (wf.options.input) {
      const checked = wf.options.input.safeParse(input);
      if (!checked.success) {
        const issues = formatIssues(toSchemaIssues(checked.error.issues), "(input)");
        fail(start, new ChildStartError("CHILD_INPUT_INVALID", `child node "${start.parent.state}/${start.parent.task}": the input for workflow "${wf.name}" fails its input schema (${issues}); fix the node's input function or the items`));
        return;
      }
      input = checked.data;
    }
    try {
      // A child runs at its parent's priority (when the parent's is not the default; else at its own workflow's).
      coordinator.start({ workflow: wf, plan: d.planOf(wf), input, options: { schedule: "phases", onFailure: "fail-fast", ...(start.priority !== undefined ? { priority: start.priority } : {}) }, runId: start.runId, parent: start.parent });
    } catch (err) {
      fail(start, new ChildStartError("CHILD_START_FAILED", `child run "${start.runId}" of workflow "${wf.name}" could not be started: ${err instanceof Error ? err.message : String(err)}`));
    }
  };
  return {
    start(start) {
      if (starting.has(start.runId)) return;
      starting.add(start.runId);
      begin(start)
        .catch((err: unknown) => fail(start, new ChildStartError("CHILD_START_FAILED", `child run "${start.runId}" of workflow "${start.workflow}" could not be started: ${err instanceof Error ? err.message : String(err)}`)))
        .finally(() => {
          starting.delete(start.runId);
          const reason = cancelledEarly.get(start.runId);
          cancelledEarly.delete(start.runId);
          if (reason !== undefined) cancel(start.runId, reason);
        });
    },
    cancel: (runId, reason) => cancel(runId, reason),
  };
  function cancel(runId: string, reason: string): void {
    if (starting.has(runId)) cancelledEarly.set(runId, reason);
    const coordinator = d.coordinator();
    if (!coordinator.handle(runId)) return;
    coordinator.cancel(runId, `parent: ${reason}`).catch((err: unknown) => d.log.warn({ err, child: runId }, "could not cancel a child run"));
  }
}
