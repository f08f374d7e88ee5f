/**
 * Checks of a workflow's `concurrency` option (runs in flight per key, README "Traffic
 * control"): a limit that is a positive whole number, a key that is a function, and an
 * `onLimit` the engine knows. Each mistake is one issue naming the fix; the compiler
 * collects them with the rest.
 */
import type { Workflow } from "../dsl/workflow.js";
import type { ValidationIssue } from "../errors/validation.js";

export const RUN_LIMIT_STRATEGIES = ["queue", "cancel-in-progress", "drop"] as const;

/** Push an issue for each mistake in `wf.options.concurrency` (absent: nothing to check). */
export function validateRunConcurrency(wf: Workflow<unknown>, issues: ValidationIssue[]): void {
  const c: unknown = wf.options.concurrency;
  if (c === undefined) return;
  const path = wf.name;
  if (typeof c !== "object" || c === null || Array.isArray(c)) {
    issues.push({ code: "INVALID_RUN_CONCURRENCY", path, message: `workflow "${wf.name}" has concurrency ${JSON.stringify(c)}; give an object such as { limit: 1, key: (input) => input.user, onLimit: "queue" }, or leave it out` });
    return;
  }
  const { limit, key, onLimit } = c as Record<string, unknown>;
  if (!(typeof limit === "number" && Number.isInteger(limit) && limit >= 1)) {
    issues.push({ code: "INVALID_RUN_LIMIT", path, message: `workflow "${wf.name}" has concurrency.limit ${String(limit)}; use a whole number of runs in flight per key, 1 or more` });
  }
  if (key !== undefined && typeof key !== "function") {
    issues.push({ code: "INVALID_RUN_LIMIT_KEY", path, message: `workflow "${wf.name}" has concurrency.key ${JSON.stringify(key)}; give a function of the run's input, e.g. key: (input) => input.user, or leave it out for one key` });
  }
  if (onLimit !== undefined && !(RUN_LIMIT_STRATEGIES as readonly unknown[]).includes(onLimit)) {
    issues.push({ code: "INVALID_ON_LIMIT", path, message: `workflow "${wf.name}" has concurrency.onLimit ${JSON.stringify(onLimit)}; use "queue", "cancel-in-progress" or "drop"` });
  }
  for (const k of Object.keys(c)) {
    if (!["limit", "key", "onLimit"].includes(k)) issues.push({ code: "UNKNOWN_OPTION", path, message: `workflow "${wf.name}" has concurrency.${k}, which is not an option; concurrency takes limit, key and onLimit` });
  }
}
