/**
 * Workflow definition issues. The compiler collects every issue it finds and throws
 * one `WorkflowValidationError` carrying them all; each issue has a stable `code`,
 * a `path` (workflow/state/task) and a message naming the entity and the fix.
 */
import { PhaseflowError } from "./base.js";

export const VALIDATION_CODES = [
  "CYCLE",
  "CROSS_STATE_EDGE",
  "CROSS_WORKFLOW_EDGE",
  "DUPLICATE_TASK",
  "DUPLICATE_STATE",
  "UNKNOWN_TRANSITION_TARGET",
  "UNKNOWN_ROUTE_TARGET",
  "UNKNOWN_ROUTER_TASK",
  "ROUTE_PATHWAY_WITHOUT_TARGET",
  "ROUTE_AND_TRANSITIONS",
  "UNREACHABLE_STATE",
  "NO_FINAL_STATE_REACHABLE",
  "FINAL_STATE_HAS_TRANSITIONS",
  "MULTIPLE_INITIAL_STATES",
  "NO_STATES",
  "EMPTY_STATE",
  "INVALID_EXECUTOR_KEY",
  "EXECUTOR_NOT_REGISTERED",
  "EXECUTOR_SCHEMA_MISMATCH",
  "INVALID_RETRIES",
  "INVALID_BACKOFF",
  "INVALID_TIMEOUT",
  "INVALID_QUEUE_TIMEOUT",
  // Task concurrency and rate limits (compiler/validate-limits.ts).
  "INVALID_CONCURRENCY",
  "INVALID_RATE_LIMIT",
  "INVALID_LIMIT",
  "INVALID_RATE_PERIOD",
  "INVALID_LIMIT_KEY",
  "INVALID_LIMIT_SCOPE",
  "INVALID_PRIORITY",
  // Workflow concurrency: runs in flight per key (compiler/validate-run-concurrency.ts).
  "INVALID_RUN_CONCURRENCY",
  "INVALID_RUN_LIMIT",
  "INVALID_RUN_LIMIT_KEY",
  "INVALID_ON_LIMIT",
  "INVALID_MAX_VISITS",
  "INVALID_NAME",
  "INVALID_VERSION",
  // Signal and sleep nodes (compiler/compile-wait.ts).
  "INVALID_SIGNAL_NAME",
  "INVALID_SIGNAL_SCHEMA",
  "INVALID_SIGNAL_TIMEOUT",
  "INVALID_SIGNAL_ON_TIMEOUT",
  "INVALID_SLEEP",
  "INVALID_SLEEP_MS",
  "SLEEP_UNTIL_NOT_FUNCTION",
  "INVALID_PARAMS",
  "MAP_ITEMS_NOT_FUNCTION",
  "INVALID_MAX_CONCURRENCY",
  "INVALID_TOLERATED_FAILURES",
  "MAP_AS_ROUTER",
  "INVALID_SCHEDULE",
  "SCHEDULE_INPUT_INVALID",
  "INVALID_SOURCE",
  "SOURCE_EXECUTOR_NOT_REGISTERED",
  "DUPLICATE_TRIGGER_NAME",
  "CHILD_WORKFLOW_INVALID",
  "CHILD_VERSION_MISMATCH",
  "CHILD_VERSION_INVALID",
  "CHILD_INPUT_NOT_FUNCTION",
  // An option key the declaration does not take (compiler/validate-options.ts).
  "UNKNOWN_OPTION",
] as const;

export type ValidationCode = (typeof VALIDATION_CODES)[number];

export interface ValidationIssue {
  code: ValidationCode;
  /** `workflow`, `workflow/state` or `workflow/state/task`. */
  path: string;
  message: string;
}

export class WorkflowValidationError extends PhaseflowError {
  readonly issues: readonly ValidationIssue[];
  readonly workflow: string;

  constructor(workflow: string, issues: readonly ValidationIssue[]) {
    const n = issues.length;
    const lines = issues.map((i) => `  [${i.code}] ${i.path}: ${i.message}`).join("\n");
    super("WORKFLOW_INVALID", `workflow "${workflow}" has ${n} issue${n === 1 ? "" : "s"}:\n${lines}`, { retryable: false });
    this.issues = issues;
    this.workflow = workflow;
  }
}
