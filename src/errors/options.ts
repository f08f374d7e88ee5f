/** The one error of bad options, whichever component's they are (support/options.ts parses them all). */
import { formatIssues, PhaseflowError, type SchemaIssue } from "./base.js";

/**
 * Options given to a component (createEngine, engine.run, createWorker, the NATS
 * transport, the web view, a memory hub, a run submitted to the fleet) failed their
 * schema; nothing was started. `subject` names whose options, `issues` what is wrong.
 */
export class OptionsError extends PhaseflowError {
  readonly subject: string;
  readonly issues: SchemaIssue[];
  constructor(subject: string, issues: SchemaIssue[]) {
    super("OPTIONS_INVALID", `${subject} are invalid: ${formatIssues(issues, "(options)")}`, { retryable: false });
    this.subject = subject;
    this.issues = issues;
  }
}
