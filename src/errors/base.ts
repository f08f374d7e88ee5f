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

/** The attempt did not start within its task's `queueTimeoutMs` of being dispatched (a backlog of work or a limit). Retryable per `retries`. */
export class QueueTimeoutError extends PhaseflowError {
  readonly queueTimeoutMs: number;
  constructor(taskId: string, queueTimeoutMs: number) {
    super("QUEUE_TIMEOUT", `task "${taskId}" waited ${queueTimeoutMs} ms without starting (queueTimeoutMs); add workers or slots, lower the backlog, or raise queueTimeoutMs`);
    this.queueTimeoutMs = queueTimeoutMs;
  }
}

/** The attempt was cancelled (run cancelled, or fail-fast after another task failed). */
/** A task limit's key function failed on an attempt's input. Not retryable: the same input gives the same key. */
export class LimitKeyError extends PhaseflowError {
  constructor(taskId: string, option: "concurrency" | "rateLimit", problem: string, options: { cause?: unknown } = {}) {
    super("LIMIT_KEY_FAILED", `task "${taskId}": its ${option}.key ${problem}; make the key a function returning a string or number for every input (e.g. (input) => input.tenant)`, { cause: options.cause, retryable: false });
  }
}

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

/**
 * Issues on one line: `path: message; path: message`, with `root` naming an issue of the
 * whole value.
 * @example formatIssues(toSchemaIssues(parsed.error.issues), "(options)") // "concurrency: Too small: expected number to be >=1"
 */
export function formatIssues(issues: readonly SchemaIssue[], root = "(root)"): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : root}: ${i.message}`).join("; ");
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
  /**
   * @param option the option that sets `limit`, when one does (`maxPayload`): the message names it.
   */
  constructor(what: string, size: number, limit: number, option?: string) {
    super(
      "PAYLOAD_TOO_LARGE",
      option === undefined
        ? `${what} is ${size} bytes, over the transport's limit of ${limit} bytes; store large data elsewhere and pass a reference`
        : `${what} is ${size} bytes, over the limit ${option} = ${limit} bytes (${(limit / 1048576).toFixed(1)} MiB); raise ${option} (the transport option, --max-payload on the command line) or store large data elsewhere and pass a reference`,
      { retryable: false },
    );
  }
}

/**
 * A run's input is larger than one message may be: it travels whole in the start request,
 * the run's first decision and its first tasks' messages, so it is refused before anything
 * is started (bad input: exit 2).
 */
export class RunInputTooLargeError extends PhaseflowError {
  /** @param option the option that sets `limit` (`maxPayload` where a payload store carries large inputs). */
  constructor(workflow: string, size: number, limit: number, option?: string) {
    super(
      "INPUT_TOO_LARGE",
      option === undefined
        ? `the input of workflow "${workflow}" is ${size} bytes as JSON, over the limit of ${limit} bytes for a run input (the transport's largest message, NATS max_payload, less room for the message around it); pass a reference to the data (a file path, URL or object key) instead of the data itself`
        : `the input of workflow "${workflow}" is ${size} bytes as JSON, over the limit ${option} = ${limit} bytes (${(limit / 1048576).toFixed(1)} MiB); raise ${option} (--max-payload on the command line) or pass a reference to the data (a file path, URL or object key) instead of the data itself`,
      { retryable: false },
    );
  }
}

/** A message nests arrays and objects deeper than the wire allows (transport/decode.ts). */
export class PayloadTooDeepError extends PhaseflowError {
  constructor(what: string, depth: number, limit: number) {
    super("PAYLOAD_TOO_DEEP", `${what} nests arrays and objects more than ${limit} levels deep (at least ${depth}); flatten the data, or store it elsewhere and pass a reference`, { retryable: false });
  }
}

/** Bad usage of the API or CLI (unknown option, bad argument). */
export class UsageError extends PhaseflowError {
  constructor(message: string) {
    super("USAGE", message, { retryable: false });
  }
}

export type ModuleLoadCode =
  | "MODULE_NOT_FOUND"
  | "MODULE_UNSUPPORTED"
  | "MODULE_IMPORT_FAILED"
  | "MODULE_NO_WORKFLOW"
  | "MODULE_NO_REGISTRY"
  | "WORKFLOW_AMBIGUOUS"
  | "WORKFLOW_NOT_FOUND";

/** A workflow or executor module given on the command line could not be loaded, or named no usable export. */
export class ModuleLoadError extends PhaseflowError {
  /** The file as the user gave it. */
  readonly file: string;
  constructor(code: ModuleLoadCode, file: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, retryable: false });
    this.file = file;
  }
}

/** A transport was used after `close()`. */
export class TransportClosedError extends PhaseflowError {
  constructor(kind: string, operation: string) {
    super("TRANSPORT_CLOSED", `${kind} transport is closed, cannot ${operation}; create a new transport (or close it only after the engine and workers have stopped)`, { retryable: false });
  }
}

/** An outgoing wire message (task, event, control) failed its schema: a bug in the emitter, nothing was sent. */
export class WireMessageInvalidError extends SchemaValidationError {
  constructor(what: string, issues: SchemaIssue[]) {
    super("WIRE_MESSAGE_INVALID", what, issues, { retryable: false });
  }
}

/** A payload cannot be carried as JSON (BigInt, cycle, ...): make task inputs and outputs plain JSON values. */
export class PayloadNotJsonError extends PhaseflowError {
  constructor(what: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super("PAYLOAD_NOT_JSON", `${what} cannot be encoded as JSON (${detail}); return plain JSON values (no BigInt, cycles or class instances that do not serialize)`, { cause, retryable: false });
  }
}

/** A task failed after its last attempt (or at once, when its error is not retryable): the run fails with this. */
export class TaskFailedError extends PhaseflowError {
  readonly taskId: string;
  readonly attempts: number;
  /** Further tasks that failed in the same state (onFailure "continue"), as `state/task`. */
  readonly others: readonly string[];
  constructor(taskId: string, attempts: number, lastError: { code: string; message: string }, options: { cause?: unknown; others?: readonly string[] } = {}) {
    const others = options.others ?? [];
    const more = others.length > 0 ? `; ${others.length} more task${others.length === 1 ? "" : "s"} failed: ${others.slice(0, 10).join(", ")}${others.length > 10 ? ", ..." : ""}` : "";
    super(
      "TASK_FAILED",
      `task "${taskId}" failed ${attempts === 0 ? "before its first attempt" : `after ${attempts} attempt${attempts === 1 ? "" : "s"}`}: [${lastError.code}] ${lastError.message}${more}; fix the executor or its input, or raise the task's retries`,
      { cause: options.cause, retryable: false },
    );
    this.taskId = taskId;
    this.attempts = attempts;
    this.others = others;
  }
}

/** A transition's `when` guard threw instead of returning a boolean. */
export class GuardFailedError extends PhaseflowError {
  constructor(state: string, target: string, index: number, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    super("GUARD_FAILED", `the guard of transition #${index} from state "${state}" to "${target}" threw: ${detail}; make the guard return true or false for every state output`, { cause, retryable: false });
  }
}

/** A state's output failed the state's declared `output` schema. */
export class StateOutputValidationError extends SchemaValidationError {
  constructor(state: string, issues: SchemaIssue[]) {
    super("STATE_OUTPUT_INVALID", `output of state "${state}"`, issues, { retryable: false });
  }
}

/** No run with this id is known to this coordinator. */
export class RunNotFoundError extends PhaseflowError {
  readonly runId: string;
  constructor(runId: string) {
    super("RUN_NOT_FOUND", `run "${runId}" is not known to this coordinator; check the run id (runs are kept in memory until the engine closes)`, { retryable: false });
    this.runId = runId;
  }
}

/** The engine or coordinator was closed while a run was still going: its result is lost. */
export class EngineClosedError extends PhaseflowError {
  constructor(runId: string) {
    super("ENGINE_CLOSED", `run "${runId}" did not finish: the engine was closed while it ran; await handle.result() before engine.close()`, { retryable: false });
  }
}

/** The server refused an operation to the connected user (a permissions violation): it names the subject, the user and the role the operation needs. */
export class NatsPermissionError extends PhaseflowError {
  readonly subject: string;
  constructor(message: string, subject: string, cause: unknown) {
    super("NATS_PERMISSION_DENIED", message, { cause, retryable: false });
    this.subject = subject;
  }
}

/** The NATS transport could not reach its server, or the server lacks what phaseflow needs (JetStream). */
export class TransportConnectError extends PhaseflowError {
  readonly servers: readonly string[];
  constructor(code: "NATS_CONNECT_FAILED" | "NATS_JETSTREAM_UNAVAILABLE" | "NATS_AUTH_FAILED", servers: readonly string[], message: string, options: { cause?: unknown } = {}) {
    // Refused credentials stay refused: retrying does not help.
    super(code, message, { cause: options.cause, retryable: code !== "NATS_AUTH_FAILED" });
    this.servers = servers;
  }

  /** The server is up and refused the credentials (NATS_AUTH_FAILED): bad input, not a server to start. */
  get credentialsRefused(): boolean {
    return this.code === "NATS_AUTH_FAILED";
  }
}

/** An existing stream, KV bucket or consumer has a config phaseflow cannot use; nothing was changed. */
export class InfrastructureMismatchError extends PhaseflowError {
  /** e.g. `stream "PF_TASKS"`. */
  readonly resource: string;
  readonly field: string;
  readonly found: string;
  readonly expected: string;
  constructor(resource: string, field: string, found: string, expected: string, fix: string) {
    super("NATS_INFRASTRUCTURE_MISMATCH", `${resource} exists with ${field} ${found}, but phaseflow needs ${expected}; ${fix}`, { retryable: false });
    this.resource = resource;
    this.field = field;
    this.found = found;
    this.expected = expected;
  }
}

/** A NATS operation failed after connecting (publish not stored, ack not confirmed); usually retryable. */
export class TransportOperationError extends PhaseflowError {
  constructor(code: "NATS_PUBLISH_FAILED" | "NATS_ACK_FAILED" | "NATS_READ_FAILED", message: string, options: { cause?: unknown } = {}) {
    super(code, message, { cause: options.cause, retryable: true });
  }
}

/** A coordinator stopped driving a run because another coordinator took it over (its lease). */
export class RunReleasedError extends PhaseflowError {
  readonly runId: string;
  constructor(runId: string) {
    super("RUN_RELEASED", `run "${runId}" is no longer driven here: it was released to another coordinator; follow it there (phaseflow status ${runId})`, { retryable: false });
    this.runId = runId;
  }
}

/** A run's history was made with another plan than the workflow given to resume or retry it. */
export class PlanMismatchError extends PhaseflowError {
  constructor(runId: string, workflow: string, recorded: string, given: string) {
    super(
      "PLAN_MISMATCH",
      `run "${runId}" of workflow "${workflow}" was started with plan ${recorded}, but the workflow given compiles to plan ${given}; resume or retry it with the workflow definition it started with`,
      { retryable: false },
    );
  }
}

/** A decision was not stored: another coordinator wrote to the run's history since this one last saw it (it lost the run). */
export class FencedError extends PhaseflowError {
  readonly runId: string;
  constructor(runId: string, expectedLastSeq: number, options: { cause?: unknown } = {}) {
    super(
      "DECISION_FENCED",
      `a decision for run "${runId}" was refused: the run's last decision is no longer at sequence ${expectedLastSeq}, so another coordinator holds it now; this coordinator lets the run go`,
      { cause: options.cause, retryable: false },
    );
    this.runId = runId;
  }
}

/** An attempt was dispatched but nothing was heard of it for far longer than its ack window: its message was lost. */
export class AttemptLostError extends PhaseflowError {
  constructor(taskId: string, silentMs: number) {
    super("ATTEMPT_LOST", `task "${taskId}": nothing was heard of its attempt for ${silentMs} ms (its task message was lost or no worker could run it); it is dispatched again`);
  }
}

/**
 * The coordinator failed at something for a reason of its own (NATS unreachable from it,
 * a bug): never labelled as an executor's error, nor as the request's. The original
 * error is the cause. Retryable by default (an API request may be asked again); a run
 * its coordinator cannot drive any more fails with a non-retryable one.
 */
export class CoordinatorError extends PhaseflowError {
  readonly operation: string;
  constructor(operation: string, cause: unknown, options: { retryable?: boolean } = {}) {
    super("COORDINATOR_ERROR", `the coordinator could not ${operation}: ${cause instanceof Error ? cause.message : String(cause)}; retry, and check the coordinator's log if it persists`, { cause, retryable: options.retryable ?? true });
    this.operation = operation;
  }
}

/** The NATS server(s) cannot keep a stream or KV bucket at the asked number of replicas (too few JetStream servers). */
export class ReplicasUnavailableError extends PhaseflowError {
  readonly resource: string;
  readonly replicas: number;
  constructor(resource: string, replicas: number, detail: string, options: { cause?: unknown } = {}) {
    super(
      "NATS_REPLICAS_UNAVAILABLE",
      `${resource} cannot have ${replicas} replicas: ${detail}; a stream with N replicas needs a NATS cluster of at least N JetStream servers (use --replicas 1 on a single server)`,
      { cause: options.cause, retryable: false },
    );
    this.resource = resource;
    this.replicas = replicas;
  }
}
