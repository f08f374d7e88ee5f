/** Errors of the fleet layer (coordinator service, client, task deliveries), with stable codes. */
import { PhaseflowError } from "./base.js";

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

  /** No coordinator answered at all (none runs on this prefix, or none can be reached). */
  isNoCoordinator(): boolean {
    return this.code === "NO_COORDINATOR";
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

/** A task message was delivered as often as the stream allows without a result: its task fails with this (retried per its policy). */
export class MaxDeliveriesExceededError extends PhaseflowError {
  constructor(taskId: string, deliveries: number) {
    super("MAX_DELIVERIES_EXCEEDED", `task "${taskId}" was delivered ${deliveries} times without a result (its workers died or timed out each time); check the workers' logs, or raise --max-deliver`, { retryable: true });
  }
}

/** Nobody serves the operation a request was sent to (NATS: "no responders"). */
export class NoRespondersError extends PhaseflowError {
  readonly subject: string;
  constructor(subject: string, options: { cause?: unknown } = {}) {
    super("NO_RESPONDERS", `nobody answers on ${subject}`, { cause: options.cause, retryable: true });
    this.subject = subject;
  }
}

/** A create of a key that exists, or an update from a revision that is no longer the key's. */
export class StoreConflictError extends PhaseflowError {
  constructor(message: string) {
    super("STORE_CONFLICT", message, { retryable: true });
  }
}
