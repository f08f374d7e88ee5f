/**
 * Errors are data: every error phaseflow raises is a `PhaseflowError` with a stable
 * string `code`, typed fields and an optional `cause`, so callers (and tests) branch
 * on the code, never on message text. Errors cross the wire via `serialize.ts`.
 */

export interface PhaseflowErrorOptions {
  cause?: unknown;
  /** Whether a retry could help. Default: true for task errors, see each subclass. */
  retryable?: boolean;
}

export class PhaseflowError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: PhaseflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? true;
  }
}

/** Thrown by an executor to fail its task at once, with no further attempts. */
export class NonRetryableError extends PhaseflowError {
  constructor(message: string, options: { cause?: unknown; code?: string } = {}) {
    super(options.code ?? "NON_RETRYABLE", message, { cause: options.cause, retryable: false });
  }
}

/** One attempt ran past its `timeoutMs`; retried per the task's policy. */
export class TaskTimeoutError extends PhaseflowError {
  readonly timeoutMs: number;
  constructor(taskId: string, timeoutMs: number) {
    super("TASK_TIMEOUT", `task "${taskId}" timed out after ${timeoutMs} ms; raise timeoutMs or make the executor honour ctx.signal`);
    this.timeoutMs = timeoutMs;
  }
}

/** The attempt was cancelled (run cancelled, or fail-fast after another task failed). */
export class TaskCancelledError extends PhaseflowError {
  constructor(taskId: string, reason: string) {
    super("TASK_CANCELLED", `task "${taskId}" was cancelled: ${reason}`, { retryable: false });
  }
}

/** A value failed a zod schema: workflow input, task input or output, or a CLI argument. */
export interface SchemaIssue {
  path: (string | number)[];
  message: string;
}

export class SchemaValidationError extends PhaseflowError {
  readonly issues: SchemaIssue[];
  readonly subject: string;
  constructor(code: string, subject: string, issues: SchemaIssue[], options: PhaseflowErrorOptions = {}) {
    const detail = issues
      .map((i) => `  - ${i.path.length > 0 ? i.path.join(".") : "(root)"}: ${i.message}`)
      .join("\n");
    super(code, `${subject} is invalid:\n${detail}`, options);
    this.issues = issues;
    this.subject = subject;
  }
}

/** The workflow input failed the workflow's `input` schema; nothing was dispatched. */
export class InputValidationError extends SchemaValidationError {
  constructor(workflow: string, issues: SchemaIssue[]) {
    super("INPUT_INVALID", `input of workflow "${workflow}"`, issues, { retryable: false });
  }
}

/** A task's output failed its declared output schema: fails the task without retry. */
export class OutputValidationError extends SchemaValidationError {
  constructor(taskId: string, issues: SchemaIssue[]) {
    super("OUTPUT_INVALID", `output of task "${taskId}"`, issues, { retryable: false });
  }
}

/** A task's input failed its declared (or its executor's) input schema. */
export class TaskInputValidationError extends SchemaValidationError {
  constructor(taskId: string, issues: SchemaIssue[]) {
    super("TASK_INPUT_INVALID", `input of task "${taskId}"`, issues, { retryable: false });
  }
}

/** A worker was asked for an executor its registry does not hold. */
export class ExecutorNotFoundError extends PhaseflowError {
  readonly executor: string;
  constructor(executor: string, known: readonly string[] = []) {
    const hint = known.length > 0 ? `; registered: ${known.slice(0, 10).join(", ")}${known.length > 10 ? ", ..." : ""}` : "";
    super("EXECUTOR_NOT_FOUND", `executor "${executor}" is not registered${hint}; register it with registry.namespace(ns).register(name, fn)`, { retryable: false });
    this.executor = executor;
  }
}

/** Registry misuse: bad key, duplicate registration. */
export class RegistryError extends PhaseflowError {
  constructor(code: "EXECUTOR_KEY_INVALID" | "EXECUTOR_DUPLICATE", message: string) {
    super(code, message, { retryable: false });
  }
}

/** A state was entered more often than its `maxVisits` allows. */
export class MaxVisitsExceededError extends PhaseflowError {
  constructor(state: string, maxVisits: number) {
    super("MAX_VISITS_EXCEEDED", `state "${state}" was entered more than ${maxVisits} times; raise its maxVisits or fix the loop's guard`, { retryable: false });
  }
}

/** No transition of a non-final state matched its output. */
export class NoTransitionError extends PhaseflowError {
  constructor(state: string, detail: string) {
    super("NO_TRANSITION", `state "${state}" finished but no transition matched: ${detail}`, { retryable: false });
  }
}

/** A message or payload is larger than the transport can carry. */
export class PayloadTooLargeError extends PhaseflowError {
  constructor(what: string, size: number, limit: number) {
    super("PAYLOAD_TOO_LARGE", `${what} is ${size} bytes, over the transport's limit of ${limit} bytes; store large data elsewhere and pass a reference`, { retryable: false });
  }
}

/** Bad usage of the API or CLI (unknown option, bad argument). */
export class UsageError extends PhaseflowError {
  constructor(message: string) {
    super("USAGE", message, { retryable: false });
  }
}
