/**
 * The CLI's exit codes, one meaning each, so scripts can branch on them:
 * 0 ok, 1 a run or a validation failed, 2 bad usage or input (flags, files, modules),
 * 130 stopped following a fleet run with Ctrl-C (the run goes on; the shell's code for SIGINT).
 */
import { InputValidationError, ModuleLoadError, PhaseflowError, RegistryError, UsageError } from "../errors/base.js";
import { WorkflowValidationError } from "../errors/validation.js";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** Codes of errors that mean bad usage or input, also when a coordinator sent them back. */
const USAGE_CODES = new Set(["USAGE", "INPUT_INVALID", "INPUT_TOO_LARGE", "NATS_AUTH_FAILED", "NATS_PERMISSION_DENIED", "RUN_NOT_FOUND", "PLAN_HASH_MISMATCH", "SIGNAL_UNKNOWN", "SIGNAL_PAYLOAD_INVALID", "SIGNAL_RUN_FINISHED", "SIGNAL_INVALID"]);

/** The exit code for an error a command let escape. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof WorkflowValidationError) return EXIT_FAILED;
  if (err instanceof PhaseflowError && USAGE_CODES.has(err.code)) return EXIT_USAGE;
  if (err instanceof UsageError || err instanceof ModuleLoadError || err instanceof InputValidationError || err instanceof RegistryError) return EXIT_USAGE;
  return EXIT_FAILED;
}

/** True for errors whose message is the whole story (no stack needed). */
export function isExpectedError(err: unknown): err is PhaseflowError {
  return err instanceof PhaseflowError;
}
