/**
 * The CLI's exit codes, one meaning each, so scripts can branch on them:
 * 0 ok, 1 a run or a validation failed, 2 bad usage or input (flags, files, modules; a start
 * refused by its workflow's concurrency, onLimit "drop"),
 * 130 stopped following a fleet run with Ctrl-C (the run goes on; the shell's code for SIGINT).
 */
import { InputValidationError, ModuleLoadError, NatsPermissionError, PhaseflowError, RegistryError, RunInputTooLargeError, RunNotFoundError, TransportConnectError, UsageError } from "../errors/base.js";
import { PlanHashMismatchError } from "../errors/fleet.js";
import { RunLimitReachedError } from "../errors/limits.js";
import { OptionsError } from "../errors/options.js";
import { WorkflowValidationError } from "../errors/validation.js";
import { SignalPayloadInvalidError, SignalRefusedError } from "../errors/waits.js";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** Errors that mean bad usage or input, also when a coordinator sent them back (deserializeError gives their class back). */
const USAGE_ERRORS = [UsageError, OptionsError, ModuleLoadError, InputValidationError, RunInputTooLargeError, NatsPermissionError, RegistryError, RunNotFoundError, PlanHashMismatchError, RunLimitReachedError, SignalRefusedError, SignalPayloadInvalidError];

/** The exit code for an error a command let escape. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof WorkflowValidationError) return EXIT_FAILED;
  if (USAGE_ERRORS.some((type) => err instanceof type)) return EXIT_USAGE;
  if (err instanceof TransportConnectError && err.credentialsRefused) return EXIT_USAGE;
  return EXIT_FAILED;
}

/** True for errors whose message is the whole story (no stack needed). */
export function isExpectedError(err: unknown): err is PhaseflowError {
  return err instanceof PhaseflowError;
}
