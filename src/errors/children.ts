/**
 * Errors of child nodes (`state.child`, `state.map` over a workflow; README "Workflows that call workflows").
 */
import { PhaseflowError } from "./base.js";

const START_CODES: ReadonlySet<string> = new Set(["CHILD_WORKFLOW_UNKNOWN", "CHILD_INPUT_INVALID", "CHILD_START_FAILED", "CHILD_DEPTH_EXCEEDED"]);

/** The child run failed or was cancelled: the node's attempt failed (retried per its retries, with a new child run). */
export class ChildRunFailedError extends PhaseflowError {
  readonly childRunId: string;
  /** `error`: the child run's error, deserialized (errors/ cannot deserialize here: known.ts lists this class). */
  constructor(taskId: string, childRunId: string, workflow: string, status: "failed" | "cancelled", error: PhaseflowError | undefined) {
    const why = error ? `: ${error.code}: ${error.message}` : "";
    super(status === "failed" ? "CHILD_FAILED" : "CHILD_CANCELLED", `child node "${taskId}": child run "${childRunId}" of workflow "${workflow}" ${status}${why}; see "phaseflow status ${childRunId}"`, {
      cause: error,
      // A child that never started (unknown workflow, input refused) would fail the same way again.
      retryable: !(error !== undefined && START_CODES.has(error.code)),
    });
    this.childRunId = childRunId;
  }
}

/** Children nest deeper than the bound: the node fails without starting anything. */
export class ChildDepthError extends PhaseflowError {
  constructor(taskId: string, workflow: string, maxDepth: number) {
    super("CHILD_DEPTH_EXCEEDED", `child node "${taskId}" would start a run of workflow "${workflow}" at depth ${maxDepth + 1}, past the limit of ${maxDepth} nested child runs; a workflow that calls itself needs a guard that stops the recursion`, { retryable: false });
  }
}

/** A child node's `input(nodeInput)` threw. */
export class ChildInputError extends PhaseflowError {
  constructor(taskId: string, err: unknown) {
    super("CHILD_INPUT_FAILED", `child node "${taskId}": its input(input) threw: ${err instanceof Error ? err.message : String(err)}; make it a pure function of the node's input`, { cause: err, retryable: false });
  }
}

/** A child run could not be started (no coordinator serves its workflow here, its input fails its schema, ...). */
export class ChildStartError extends PhaseflowError {
  constructor(code: "CHILD_WORKFLOW_UNKNOWN" | "CHILD_INPUT_INVALID" | "CHILD_START_FAILED", message: string) {
    super(code, message, { retryable: false });
  }
}
