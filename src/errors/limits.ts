/** Errors of traffic control (README "Traffic control"), with stable codes. */
import { PhaseflowError } from "./base.js";

/** A start refused because its key already has `limit` runs in flight (`concurrency.onLimit: "drop"`). */
export class RunLimitReachedError extends PhaseflowError {
  readonly workflow: string;
  readonly key: string;
  readonly limit: number;
  constructor(workflow: string, key: string, limit: number) {
    super(
      "RUN_LIMIT_REACHED",
      `workflow "${workflow}" already has ${limit}/${limit} runs in flight for key "${key}" and drops new starts (concurrency.onLimit "drop"); start it again once one ended, or use onLimit "queue" to wait`,
      { retryable: true },
    );
    this.workflow = workflow;
    this.key = key;
    this.limit = limit;
  }
}
