/**
 * The compiler's side of task-level traffic control (README "Traffic control"): checks a
 * task's `concurrency` and `rateLimit` (each mistake one issue with its own code and the
 * fix), and turns them into the plan's numbers. The key functions stay with the definition.
 */
import type { TaskOptions } from "../dsl/workflow.js";
import type { ValidationIssue } from "../errors/validation.js";
import type { PlanTask } from "../plan/schema.js";
import { MAX_TIMEOUT_MS } from "./defaults.js";

/** Upper bound of a limit, to catch typos (a limit of 1e9 is never meant). */
export const MAX_LIMIT = 1_000_000;
/** A scope is a name people read in `status` and metrics: executor-key characters. */
const SCOPE = /^[A-Za-z0-9_.:/-]{1,200}$/;

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);
const show = (v: unknown): string => (typeof v === "function" ? "a function" : (JSON.stringify(v) ?? typeof v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Checks `concurrency` and `rateLimit` of one task (`name`: how messages name it). */
export function validateLimits(o: TaskOptions, name: string, path: string, issues: ValidationIssue[]): void {
  for (const option of ["concurrency", "rateLimit"] as const) {
    const value: unknown = o[option];
    if (value === undefined) continue;
    if (!isObject(value)) {
      const example = option === "concurrency" ? "{ limit: 8 }" : "{ limit: 60, periodMs: 60_000 }";
      const mapHint = option === "concurrency" && typeof value === "number" ? " (instances of a map in flight at once are maxConcurrency)" : "";
      issues.push({ code: option === "concurrency" ? "INVALID_CONCURRENCY" : "INVALID_RATE_LIMIT", path, message: `${name} has ${option} ${typeof value === "string" ? value : show(value)}; give an object such as ${example}${mapHint}, or leave it out for no limit` });
      continue;
    }
    const limit = value.limit;
    if (!isInt(limit) || limit < 1 || limit > MAX_LIMIT) {
      issues.push({ code: "INVALID_LIMIT", path, message: `${name} has ${option}.limit ${String(limit)}; use a whole number from 1 to ${MAX_LIMIT}` });
    }
    if (option === "rateLimit") {
      const p = value.periodMs;
      if (!isInt(p) || p <= 0 || p > MAX_TIMEOUT_MS) {
        issues.push({ code: "INVALID_RATE_PERIOD", path, message: `${name} has rateLimit.periodMs ${String(p)}; use a positive whole number of milliseconds up to ${MAX_TIMEOUT_MS}, e.g. 1000 for "per second"` });
      }
    }
    if (value.key !== undefined && typeof value.key !== "function") {
      issues.push({ code: "INVALID_LIMIT_KEY", path, message: `${name} has ${option}.key ${show(value.key)}; give a function of the task's input, e.g. key: (input) => input.tenant, or leave it out for one key` });
    }
    if (value.scope !== undefined && (typeof value.scope !== "string" || !SCOPE.test(value.scope))) {
      issues.push({ code: "INVALID_LIMIT_SCOPE", path, message: `${name} has ${option}.scope ${show(value.scope)}; use 1-200 letters, digits, '_', '.', ':', '/' or '-' (e.g. "openai/chat"), or leave it out to share the limit by executor` });
    }
    const known = option === "concurrency" ? ["limit", "key", "scope"] : ["limit", "periodMs", "key", "scope"];
    for (const k of Object.keys(value)) {
      if (!known.includes(k)) issues.push({ code: "UNKNOWN_OPTION", path, message: `${name} has unknown option "${option}.${k}", which would be ignored; ${option} takes: ${known.join(", ")}` });
    }
  }
}

/** The plan's view of a (valid) task's limits: scope, numbers, and whether a key splits it. */
export function planLimitsOf(o: TaskOptions): Pick<PlanTask, "concurrency" | "rateLimit"> {
  const out: Pick<PlanTask, "concurrency" | "rateLimit"> = {};
  const c = o.concurrency;
  if (c !== undefined) out.concurrency = { scope: c.scope ?? o.executor, limit: c.limit, keyed: c.key !== undefined };
  const r = o.rateLimit;
  if (r !== undefined) out.rateLimit = { scope: r.scope ?? o.executor, limit: r.limit, periodMs: r.periodMs, keyed: r.key !== undefined };
  return out;
}
