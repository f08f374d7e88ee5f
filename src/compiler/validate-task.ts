/** Per-task checks: executor key, registry presence and schema agreement, retry/backoff/timeout values. */
import type { ValidationIssue } from "../errors/validation.js";
import type { Task } from "../dsl/workflow.js";
import type { Registry } from "../registry/registry.js";
import { checkExecutorKey } from "../registry/keys.js";
import { validateWait } from "./compile-wait.js";
import { validateLimits } from "./validate-limits.js";
import { MAX_RETRIES, MAX_TIMEOUT_MS } from "./defaults.js";
import { toJsonSchema, topLevelKeys, type JsonSchema, type ToJsonSchema } from "./schemas.js";

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);

/** Checks one task; `json` converts schemas (pass a cache when checking many tasks). */
export function validateTask(task: Task<string>, path: string, registry: Registry | undefined, issues: ValidationIssue[], json: ToJsonSchema = toJsonSchema): void {
  const o = task.options;
  const name = `task "${task.name}" in state "${task.state.name}"`;
  const keyProblem = typeof o.executor === "string" ? checkExecutorKey(o.executor) : "must be a string";
  if (task.wait) {
    // A signal or sleep node runs no executor.
    validateWait(task, path, issues);
  } else if (keyProblem) {
    issues.push({ code: "INVALID_EXECUTOR_KEY", path, message: `${name} has executor "${String(o.executor)}", which is not a valid key (${keyProblem}); use "namespace/name", e.g. "etl/extract"` });
  } else if (registry) {
    const entry = registry.get(o.executor);
    if (!entry) {
      const ns = o.executor.split("/")[0]!;
      const inNs = registry.keys().filter((k) => k.startsWith(`${ns}/`));
      const hint = inNs.length > 0 ? ` (namespace "${ns}" has: ${inNs.slice(0, 10).join(", ")}${inNs.length > 10 ? ", ..." : ""})` : "";
      issues.push({ code: "EXECUTOR_NOT_REGISTERED", path, message: `${name} uses executor "${o.executor}", which the registry does not hold${hint}; register it or fix the key` });
    } else {
      if (o.input !== undefined && entry.input !== undefined) compareSchemas("input", json(o.input), json(entry.input), name, o.executor, path, issues);
      if (o.output !== undefined && entry.output !== undefined) compareSchemas("output", json(o.output), json(entry.output), name, o.executor, path, issues);
    }
  }
  if (o.retries !== undefined && (!isInt(o.retries) || o.retries < 0 || o.retries > MAX_RETRIES)) {
    issues.push({ code: "INVALID_RETRIES", path, message: `${name} has retries ${String(o.retries)}; use a whole number from 0 to ${MAX_RETRIES}` });
  }
  if (o.backoff !== undefined) {
    const b = o.backoff;
    const problems: string[] = [];
    if (!isInt(b.initialMs) || b.initialMs < 0) problems.push(`initialMs ${String(b.initialMs)} must be a whole number >= 0`);
    if (!isInt(b.maxMs) || b.maxMs < 0) problems.push(`maxMs ${String(b.maxMs)} must be a whole number >= 0`);
    else if (isInt(b.initialMs) && b.maxMs < b.initialMs) problems.push(`maxMs ${b.maxMs} is below initialMs ${b.initialMs}`);
    if (b.factor !== undefined && (typeof b.factor !== "number" || !Number.isFinite(b.factor) || b.factor < 1)) problems.push(`factor ${String(b.factor)} must be a number >= 1`);
    if (problems.length > 0) issues.push({ code: "INVALID_BACKOFF", path, message: `${name} has an invalid backoff: ${problems.join("; ")}; fix these fields or leave backoff out for the default` });
  }
  if (o.timeoutMs !== undefined && (!isInt(o.timeoutMs) || o.timeoutMs <= 0 || o.timeoutMs > MAX_TIMEOUT_MS)) {
    issues.push({ code: "INVALID_TIMEOUT", path, message: `${name} has timeoutMs ${String(o.timeoutMs)}; use a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, or leave it out for no limit` });
  }
  if (o.queueTimeoutMs !== undefined && (!isInt(o.queueTimeoutMs) || o.queueTimeoutMs <= 0 || o.queueTimeoutMs > MAX_TIMEOUT_MS)) {
    issues.push({ code: "INVALID_QUEUE_TIMEOUT", path, message: `${name} has queueTimeoutMs ${String(o.queueTimeoutMs)}; use a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, or leave it out to wait for a worker without limit` });
  }
  validateLimits(o, name, path, issues);
}

function compareSchemas(kind: "input" | "output", declared: JsonSchema | null, registered: JsonSchema | null, name: string, executor: string, path: string, issues: ValidationIssue[]): void {
  if (!declared || !registered) return;
  const a = topLevelKeys(declared);
  const b = topLevelKeys(registered);
  if (a && b) {
    if (a.join("\u0000") !== b.join("\u0000")) {
      const onlyTask = a.filter((k) => !b.includes(k));
      const onlyExec = b.filter((k) => !a.includes(k));
      const parts = [
        onlyTask.length > 0 ? `only the task declares ${onlyTask.join(", ")}` : "",
        onlyExec.length > 0 ? `only the executor declares ${onlyExec.join(", ")}` : "",
      ].filter(Boolean);
      issues.push({ code: "EXECUTOR_SCHEMA_MISMATCH", path, message: `${name} declares an ${kind} schema whose keys differ from executor "${executor}"'s (${parts.join("; ")}); make them agree or drop one` });
    }
  } else if (declared.type !== undefined && registered.type !== undefined && declared.type !== registered.type) {
    issues.push({ code: "EXECUTOR_SCHEMA_MISMATCH", path, message: `${name} declares an ${kind} of type ${JSON.stringify(declared.type)} but executor "${executor}" declares ${JSON.stringify(registered.type)}; make them agree` });
  }
}
