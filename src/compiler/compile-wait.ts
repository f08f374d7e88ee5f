/**
 * Signal and sleep nodes in the compiler: their checks (with codes and fixes) and their
 * entry in the plan. They are tasks of the state's DAG for wiring and phases, but run no
 * executor, so none of the executor checks apply to them.
 */
import type { ZodType } from "zod";
import { isWorkflow, type Task } from "../dsl/workflow.js";
import type { ValidationIssue } from "../errors/validation.js";
import type { PlanWait } from "../plan/schema.js";

/** Longest wait a signal timeout or a sleep may declare: a year (a longer one is rather a schedule). */
export const MAX_WAIT_MS = 366 * 24 * 3600 * 1000;

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);
const SIGNAL_NAME = /^[A-Za-z0-9_.:-]{1,200}$/;

function isZodSchema(value: unknown): value is ZodType {
  return typeof value === "object" && value !== null && typeof (value as { safeParse?: unknown }).safeParse === "function";
}

/** Checks one signal or sleep node. */
export function validateWait(task: Task<string>, path: string, issues: ValidationIssue[]): void {
  const w = task.wait;
  if (!w) return;
  const name = `${w.kind} node "${task.name}" in state "${task.state.name}"`;
  if (w.kind === "signal") {
    if (typeof w.signal !== "string" || !SIGNAL_NAME.test(w.signal)) {
      issues.push({ code: "INVALID_SIGNAL_NAME", path, message: `${name} waits for signal ${JSON.stringify(w.signal)}; a signal name is 1-200 letters, digits, '_', '.', ':' or '-' (it is typed on command lines), so rename it or pass { signal: "name" }` });
    }
    if (w.schema !== undefined && !isZodSchema(w.schema)) {
      issues.push({ code: "INVALID_SIGNAL_SCHEMA", path, message: `${name} has a schema that is not a zod schema; pass one, e.g. { schema: z.object({ ok: z.boolean() }) }, or leave it out to accept any payload` });
    }
    if (w.timeoutMs !== undefined && (!isInt(w.timeoutMs) || w.timeoutMs <= 0 || w.timeoutMs > MAX_WAIT_MS)) {
      issues.push({ code: "INVALID_SIGNAL_TIMEOUT", path, message: `${name} has timeoutMs ${String(w.timeoutMs)}; use a whole number of milliseconds from 1 to ${MAX_WAIT_MS}, or leave it out to wait without limit` });
    }
    if (w.onTimeout !== undefined && (typeof w.onTimeout !== "object" || w.onTimeout === null || !("output" in w.onTimeout))) {
      issues.push({ code: "INVALID_SIGNAL_ON_TIMEOUT", path, message: `${name} has onTimeout ${JSON.stringify(w.onTimeout)}; pass { output: ... } (e.g. { output: { pathway: "expired" } }), or leave it out to fail with SIGNAL_TIMEOUT` });
    } else if (w.onTimeout !== undefined && w.timeoutMs === undefined) {
      issues.push({ code: "INVALID_SIGNAL_ON_TIMEOUT", path, message: `${name} has onTimeout but no timeoutMs, so it can never time out; add timeoutMs or drop onTimeout` });
    }
    return;
  }
  if (w.kind === "child") {
    validateChild(task, w, path, name, issues);
    return;
  }
  const hasMs = w.ms !== undefined;
  const hasUntil = w.until !== undefined;
  if (hasMs === hasUntil) {
    issues.push({ code: "INVALID_SLEEP", path, message: `${name} needs exactly one of { ms } or { until }, got ${hasMs ? "both" : "neither"}; e.g. ${task.state.name}.sleep("${task.name}", { ms: 60_000 })` });
    return;
  }
  if (hasUntil && typeof w.until !== "function") {
    issues.push({ code: "SLEEP_UNTIL_NOT_FUNCTION", path, message: `${name} has until ${typeof w.until}, not a function; pass { until: (input) => new Date(...) } (it gets the node's input and returns a Date or epoch ms), or use { ms }` });
  }
  if (hasMs && (!isInt(w.ms) || w.ms < 0 || w.ms > MAX_WAIT_MS)) {
    issues.push({ code: "INVALID_SLEEP_MS", path, message: `${name} has ms ${String(w.ms)}; use a whole number of milliseconds from 0 to ${MAX_WAIT_MS}` });
  }
}

const WORKFLOW_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** Checks a child node (`state.child`, or `state.map` over a workflow). */
function validateChild(task: Task<string>, w: Extract<NonNullable<Task<string>["wait"]>, { kind: "child" }>, path: string, name: string, issues: ValidationIssue[]): void {
  const wf = w.workflow as unknown;
  if (typeof wf === "string") {
    if (!WORKFLOW_NAME.test(wf)) issues.push({ code: "CHILD_WORKFLOW_INVALID", path, message: `${name} names workflow ${JSON.stringify(wf)}, which is no workflow name (1-100 letters, digits, '.', '_' or '-'); pass the workflow's handle or its name` });
  } else if (!isWorkflow(wf)) {
    issues.push({ code: "CHILD_WORKFLOW_INVALID", path, message: `${name} has workflow ${typeof wf === "object" ? "an object that is no workflow" : typeof wf}; pass a handle from workflow("name", ...) or a workflow name` });
  } else if (wf.states.length === 0) {
    issues.push({ code: "CHILD_WORKFLOW_INVALID", path, message: `${name} runs workflow "${wf.name}", which has no states; declare its states, or name another workflow` });
  } else if (w.version !== undefined && w.version !== wf.version) {
    issues.push({ code: "CHILD_VERSION_MISMATCH", path, message: `${name} asks for version "${w.version}" of workflow "${wf.name}" but passes the handle of version "${wf.version}"; pass that version's handle, or its name with { version }` });
  }
  if (w.version !== undefined && (typeof w.version !== "string" || w.version.length === 0)) {
    issues.push({ code: "CHILD_VERSION_INVALID", path, message: `${name} has version ${JSON.stringify(w.version)}; pass a non-empty string, or leave it out for the latest` });
  }
  if (w.input !== undefined && typeof w.input !== "function") {
    issues.push({ code: "CHILD_INPUT_NOT_FUNCTION", path, message: `${name} has input of type ${typeof w.input}; pass a function of the node's input, e.g. input: (i) => ({ id: i.id }), or leave it out to pass the node's input` });
  }
}

/** The name of a child node's workflow, and its version (the handle's, or the one asked for; null: the latest). */
function childTarget(w: Extract<NonNullable<Task<string>["wait"]>, { kind: "child" }>): { workflow: string; version: string | null } {
  const wf = w.workflow as unknown;
  if (typeof wf === "string") return { workflow: wf, version: w.version ?? null };
  const handle = wf as { name: string; version: string };
  return { workflow: handle.name, version: w.version ?? handle.version };
}

/** The plan entry of a wait node (null for a task). */
export function planWaitOf(task: Task<string>): PlanWait | null {
  const w = task.wait;
  if (!w) return null;
  if (w.kind === "child") return { kind: "child", ...childTarget(w), input: w.input ? w.input.toString() : null };
  if (w.kind === "signal") return { kind: "signal", signal: w.signal, timeoutMs: w.timeoutMs ?? null, onTimeout: w.onTimeout ? { output: w.onTimeout.output } : null };
  return { kind: "sleep", ms: w.ms ?? null, until: w.until ? w.until.toString() : null };
}
