/** Errors of the fleet layer (coordinator service, client), with stable codes. */
import { PhaseflowError } from "../errors/base.js";

/** A run needs executors that no live worker serves (with `requireWorkers`). */
export class WorkersUnavailableError extends PhaseflowError {
  readonly missing: string[];
  constructor(workflow: string, missing: string[]) {
    super(
      "WORKERS_UNAVAILABLE",
      `no live worker serves ${missing.map((m) => `"${m}"`).join(", ")} needed by workflow "${workflow}"; start a worker with those executors (phaseflow worker --nats URL <modules>) or submit without --require-workers to wait`,
      { retryable: true },
    );
    this.missing = missing;
  }
}

/** A request to the coordinator API got no usable answer. */
export class ApiRequestError extends PhaseflowError {
  constructor(code: "NO_COORDINATOR" | "API_REQUEST_FAILED" | "API_REPLY_INVALID", message: string, options: { cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, retryable: code !== "API_REPLY_INVALID" });
  }
}

/** A submitter's copy of a workflow compiles to another plan than the one the coordinator serves. */
export class PlanHashMismatchError extends PhaseflowError {
  readonly served: string;
  readonly submitted: string;
  constructor(workflow: string, served: string, submitted: string) {
    super(
      "PLAN_HASH_MISMATCH",
      `the coordinator serves workflow "${workflow}" as plan ${served.slice(0, 12)}, but the submitted definition compiles to plan ${submitted.slice(0, 12)}; deploy the same definition to the coordinators, or submit anyway with --force (the coordinator's plan runs)`,
      { retryable: false },
    );
    this.served = served;
    this.submitted = submitted;
  }
}

/**
 * A coordinator could not serve a request for a reason of its own (NATS unreachable from
 * it, a bug): never labelled as an executor's error. The original error is the cause.
 */
export class CoordinatorError extends PhaseflowError {
  constructor(operation: string, cause: unknown) {
    super("COORDINATOR_ERROR", `the coordinator could not ${operation}: ${cause instanceof Error ? cause.message : String(cause)}; retry, and check the coordinator's log if it persists`, { cause, retryable: true });
  }
}

/**
 * An API reply would not fit in one NATS message (a run record of many tasks or large
 * values). The client then folds the run's history itself (`client.get` does).
 */
export class ReplyTooLargeError extends PhaseflowError {
  readonly bytes: number;
  readonly limit: number;
  constructor(subject: string, bytes: number, limit: number) {
    super("REPLY_TOO_LARGE", `the reply on ${subject} is ${bytes} bytes, over the server's max_payload of ${limit}; read the run's history instead (client.get does so by itself)`, { retryable: false });
    this.bytes = bytes;
    this.limit = limit;
  }
}
