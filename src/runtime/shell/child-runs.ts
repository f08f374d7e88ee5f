/**
 * The port through which a run's shell starts and cancels child runs (README "Workflows that call workflows";
 * the rules are in runtime/core/children.ts). An embedded engine starts children on its
 * own coordinator (embedded/child-runs.ts); a fleet coordinator asks the fleet, where any
 * coordinator serving the child's workflow takes it.
 *
 * Both calls are fire-and-forget and must be idempotent: `start` of a run id that exists
 * starts nothing (and, when that run has ended, stores its end on the parent again);
 * whatever cannot be started ends as a `child.ended` failure stored on the parent, so
 * the parent's node fails with a clear error instead of waiting forever.
 */
import { serializeError } from "../../errors/serialize.js";
import type { PhaseflowError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { WIRE_VERSION, type ChildEndedMessage } from "../../transport/messages.js";
import type { Transport } from "../../transport/port.js";
import type { ChildStart } from "../core/children.js";
import type { RunRecord } from "../core/run-record-schema.js";
import { ChildStartError } from "../../errors/children.js";

export interface ChildRuns {
  /** Start the child run `start.runId` unless it exists. Never throws: a failure is stored as the child's end. */
  start(start: ChildStart): void;
  /** Cancel a child run (best effort: a child that ended already is left alone). */
  cancel(runId: string, reason: string): void;
}

/**
 * The `child.ended` message that stores the end of child run `record` on its parent `parentRunId`.
 * A cancelled run without an error carries RUN_CANCELLED with its reason.
 * @example await transport.appendChildEnd(childEndedOf(record, record.parent.runId, Date.now()));
 */
export function childEndedOf(record: RunRecord, parentRunId: string, at: number): ChildEndedMessage {
  const status = record.status === "succeeded" ? "succeeded" : record.status === "cancelled" ? "cancelled" : "failed";
  const message: ChildEndedMessage = { v: WIRE_VERSION, kind: "child", type: "child.ended", runId: parentRunId, at, child: record.runId, status };
  if (record.output !== undefined) message.output = record.output;
  if (record.error !== undefined) message.error = record.error;
  else if (record.status === "cancelled") message.error = { name: "CancelledError", code: "RUN_CANCELLED", message: record.reason ?? "cancelled", retryable: true };
  return message;
}

/**
 * Store the end of child run `record` on its parent's report subject (after the child's own
 * end is stored, so the parent never learns of an end the child's history lacks). A failure
 * is logged: the parent's coordinator finds the end when it checks on its children.
 */
export async function storeChildEnd(transport: Transport, record: RunRecord, at: number, log: Logger): Promise<void> {
  if (!record.parent) return;
  const parent = record.parent.runId;
  try {
    await transport.appendChildEnd(childEndedOf(record, parent, at));
  } catch (err) {
    log.error({ err, parent }, `child run "${record.runId}" ended but its end could not be stored on parent run "${parent}"; the parent's coordinator finds it when it checks on its children (child-watch.ts)`);
  }
}

/**
 * Store on the parent that the child `start` could not be started (`error`), so its node fails.
 * @example await storeStartFailure(transport, start, new ChildStartError("CHILD_WORKFLOW_UNKNOWN", "..."), Date.now(), log);
 */
export async function storeStartFailure(transport: Transport, start: ChildStart, error: PhaseflowError, at: number, log: Logger): Promise<void> {
  const message: ChildEndedMessage = { v: WIRE_VERSION, kind: "child", type: "child.ended", runId: start.parent.runId, at, child: start.runId, status: "failed", error: serializeError(error) };
  try {
    await transport.appendChildEnd(message);
  } catch (err) {
    log.error({ err, child: start.runId, parent: start.parent.runId }, "could not store a child's start failure on its parent; its node waits until the parent is resumed");
  }
}

/** For a coordinator built without children support: every child start fails, clearly. */
export function noChildRuns(transport: Transport, now: () => number, log: Logger): ChildRuns {
  return {
    start(start) {
      void storeStartFailure(transport, start, new ChildStartError("CHILD_START_FAILED", `child node "${start.parent.state}/${start.parent.task}" cannot start a run of workflow "${start.workflow}": this coordinator was created without child-run support (use createEngine or a fleet coordinator)`), now(), log);
    },
    cancel() {},
  };
}
