/** The one error of bad options, whichever component's they are (support/options.ts resolves them all). */
import { SchemaValidationError, type SchemaIssue } from "./base.js";

/**
 * Options given to a component (createEngine, engine.run, a worker, the NATS transport,
 * the web view, a memory hub, a run submitted to the fleet) failed their schema; nothing
 * was started. `subject` names whose options, `issues` say what is wrong with each.
 */
export class OptionsError extends SchemaValidationError {
  constructor(subject: string, issues: SchemaIssue[]) {
    super("OPTIONS_INVALID", subject, issues, { retryable: false });
  }
}
