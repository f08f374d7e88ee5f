/**
 * Unknown option keys on tasks, maps, signal and sleep nodes, states and workflows.
 * TypeScript's excess-property check catches `retry: 3` in an object literal, but not in
 * JavaScript, in options built elsewhere, or behind a cast: a misspelt option would then be
 * silently ignored (no retries, no timeout). The compiler reports each one
 * (UNKNOWN_OPTION) with the option it probably meant. A new option must be added to
 * KNOWN_OPTIONS here as well as to its interface in dsl/workflow.ts. Child nodes are not
 * checked yet.
 */
import type { NodeKind, State, Task, Workflow } from "../dsl/workflow.js";
import type { ValidationIssue } from "../errors/validation.js";
import { editDistance } from "../support/edit-distance.js";

/** The options each kind of declaration takes (dsl/workflow.ts). */
export const KNOWN_OPTIONS: Readonly<Record<NodeKind | "state" | "workflow", readonly string[]>> = {
  task: ["executor", "params", "input", "output", "retries", "backoff", "timeoutMs", "queueTimeoutMs", "concurrency", "rateLimit", "description"],
  map: ["executor", "params", "input", "output", "retries", "backoff", "timeoutMs", "queueTimeoutMs", "concurrency", "rateLimit", "description", "items", "maxConcurrency", "toleratedFailures"],
  signal: ["schema", "timeoutMs", "onTimeout", "signal", "retries", "backoff", "description"],
  sleep: ["ms", "until", "description"],
  state: ["initial", "final", "maxVisits", "output", "description"],
  workflow: ["version", "input", "description", "schedules", "sources", "priority", "concurrency"],
};

/** Names users bring from other engines, and what they are called here. */
const ALIASES: Readonly<Record<string, string>> = {
  retry: "retries",
  maxretries: "retries",
  maxattempts: "retries",
  attempts: "retries",
  retrycount: "retries",
  timeout: "timeoutMs",
  timeoutms: "timeoutMs",
  timeoutseconds: "timeoutMs",
  timeoutsecs: "timeoutMs",
  executiontimeout: "timeoutMs",
  retrybackoff: "backoff",
  retrypolicy: "retries",
  parallelism: "maxConcurrency",
  ratelimit: "rateLimit",
  throttle: "rateLimit",
  maxvisit: "maxVisits",
  schema: "output",
  param: "params",
  parameters: "params",
  args: "params",
  handler: "executor",
  fn: "executor",
  run: "executor",
  duration: "ms",
  delay: "ms",
};

/** The known option `key` most probably means, if one is close enough. */
export function probableOption(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const byCase = known.find((k) => k.toLowerCase() === lower);
  if (byCase !== undefined) return byCase;
  const alias = ALIASES[lower];
  if (alias !== undefined) {
    if (known.includes(alias)) return alias;
    // e.g. `schema` on a task means `output`, on a signal it is an option already.
  }
  let best: string | undefined;
  let bestD = Math.min(3, Math.floor(key.length / 2));
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= bestD && (best === undefined || d < bestD)) {
      best = k;
      bestD = d;
    }
  }
  if (best !== undefined) return best;
  return known.find((k) => k.length >= 4 && (k.toLowerCase().startsWith(lower) || lower.startsWith(k.toLowerCase())) && lower.length >= 4);
}

function unknownKeys(keys: readonly string[], known: readonly string[], what: string, call: string, path: string, issues: ValidationIssue[]): void {
  for (const key of keys) {
    if (known.includes(key)) continue;
    const near = probableOption(key, known);
    const hint = near !== undefined ? `did you mean "${near}"? ` : "";
    issues.push({
      code: "UNKNOWN_OPTION",
      path,
      message: `${what} has unknown option "${key}", which would be ignored; ${hint}${call} takes: ${known.join(", ")}`,
    });
  }
}

/** Unknown option keys of a task, map, signal or sleep node. */
export function validateTaskOptionKeys(task: Task<string>, path: string, issues: ValidationIssue[]): void {
  const { kind, keys } = task.declared;
  const what = `${kind === "task" ? "task" : `${kind} node`} "${task.name}" in state "${task.state.name}"`;
  unknownKeys(keys, KNOWN_OPTIONS[kind], what, `state.${kind}()`, path, issues);
}

/** Unknown option keys of a state. */
export function validateStateOptionKeys(s: State<string, unknown>, path: string, issues: ValidationIssue[]): void {
  const keys = typeof s.options === "object" && s.options !== null ? Object.keys(s.options) : [];
  unknownKeys(keys, KNOWN_OPTIONS.state, `state "${s.name}"`, "workflow.state()", path, issues);
}

/** Unknown option keys of a workflow. */
export function validateWorkflowOptionKeys(wf: Workflow<unknown>, issues: ValidationIssue[]): void {
  const keys = typeof wf.options === "object" && wf.options !== null ? Object.keys(wf.options) : [];
  unknownKeys(keys, KNOWN_OPTIONS.workflow, `workflow "${wf.name}"`, "workflow()", wf.name, issues);
}
