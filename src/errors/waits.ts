/**
 * Errors of signal and sleep nodes, and of sending signals (README "Waiting for people and time").
 */
import { PhaseflowError, SchemaValidationError, type SchemaIssue } from "./base.js";

/** A signal node waited `timeoutMs` without a signal: retried per its `retries`, else it fails (or route it with `onTimeout`). */
export class SignalTimeoutError extends PhaseflowError {
  readonly signal: string;
  readonly timeoutMs: number;
  constructor(taskId: string, signal: string, timeoutMs: number) {
    super("SIGNAL_TIMEOUT", `signal node "${taskId}" got no signal "${signal}" within ${timeoutMs} ms; send it with "phaseflow signal <runId> ${signal}", raise timeoutMs, or pass onTimeout to route on`);
    this.signal = signal;
    this.timeoutMs = timeoutMs;
  }
}

/** A sleep node's `until` threw or returned no valid time: the node fails without retry. */
export class SleepUntilError extends PhaseflowError {
  constructor(taskId: string, detail: string, options: { cause?: unknown } = {}) {
    super("SLEEP_UNTIL_INVALID", `sleep node "${taskId}": its until(input) ${detail}; return a Date or epoch milliseconds`, { cause: options.cause, retryable: false });
  }
}

/** A signal's payload failed the schema of the signal node(s) waiting for it: refused at the sender, nothing stored. */
export class SignalPayloadInvalidError extends SchemaValidationError {
  constructor(runId: string, signal: string, issues: SchemaIssue[]) {
    super("SIGNAL_PAYLOAD_INVALID", `payload of signal "${signal}" for run "${runId}"`, issues, { retryable: false });
  }
}

/** A signal was refused before it was stored: no such signal in the workflow, or the run is not running. */
export class SignalRefusedError extends PhaseflowError {
  constructor(code: "SIGNAL_UNKNOWN" | "SIGNAL_RUN_FINISHED" | "SIGNAL_INVALID", message: string) {
    super(code, message, { retryable: false });
  }
}
