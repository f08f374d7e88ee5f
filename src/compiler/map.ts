/**
 * Checks and plan fields of what issue 11 added to a task: static `params` (JSON,
 * hashed into the plan) and map nodes (`state.map`): `items` must be a function,
 * `maxConcurrency` a whole number >= 1, `toleratedFailures` a count or a fraction
 * below 1, and a map cannot route (its output is an array, never `{ pathway }`).
 */
import type { MapDef, State, Task } from "../dsl/workflow.js";
import type { ValidationIssue } from "../errors/validation.js";
import type { PlanMap } from "../plan/schema.js";

export const DEFAULT_MAX_CONCURRENCY = 100;
/** Upper bound that catches typos. */
export const MAX_CONCURRENCY = 1_000_000;

/** Whether `value` is JSON that survives a round trip unchanged (no undefined, functions, NaN, Dates, class instances). */
function isJson(value: unknown, depth = 0): boolean {
  if (depth > 64) return false;
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every((v) => isJson(v, depth + 1));
  if (typeof value === "object") {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(value).every((v) => isJson(v, depth + 1));
  }
  return false;
}

/** Issues of a task's `params` and, for a map node, of its map options. */
export function validateMapAndParams(task: Task<string>, path: string, issues: ValidationIssue[]): void {
  const name = `${task.map ? "map" : "task"} "${task.name}" in state "${task.state.name}"`;
  const params = task.options.params;
  if (params !== undefined && !isJson(params)) {
    issues.push({ code: "INVALID_PARAMS", path, message: `${name} has params that are not plain JSON (functions, undefined, NaN, Dates and class instances do not travel to workers); use strings, numbers, booleans, null, arrays and plain objects` });
  }
  const m = task.map;
  if (!m) return;
  if (typeof m.items !== "function") {
    issues.push({ code: "MAP_ITEMS_NOT_FUNCTION", path, message: `${name} has items of type ${m.items === null ? "null" : typeof m.items}; give a function of the map's input that returns the list, e.g. items: (input) => input.cells` });
  }
  const c = m.maxConcurrency;
  if (c !== undefined && (typeof c !== "number" || !Number.isInteger(c) || c < 1 || c > MAX_CONCURRENCY)) {
    issues.push({ code: "INVALID_MAX_CONCURRENCY", path, message: `${name} has maxConcurrency ${String(c)}; use a whole number from 1 to ${MAX_CONCURRENCY}, or leave it out for the default ${DEFAULT_MAX_CONCURRENCY}` });
  }
  const f = m.toleratedFailures;
  if (f !== undefined && (typeof f !== "number" || !Number.isFinite(f) || f < 0 || (f >= 1 && !Number.isInteger(f)))) {
    issues.push({ code: "INVALID_TOLERATED_FAILURES", path, message: `${name} has toleratedFailures ${String(f)}; use a count (a whole number >= 0) or a fraction of the items below 1 (e.g. 0.05), or leave it out to tolerate none` });
  }
}

/** A map node named as a state's router: its output is an array, so it can never pick a pathway. */
export function validateMapRouters(s: State<string, unknown>, path: string, issues: ValidationIssue[]): void {
  for (const r of s.routes) {
    const router = typeof r.router === "string" ? s.tasks.find((t) => t.name === r.router) : r.router;
    if (router?.map && router.state === s) {
      issues.push({ code: "MAP_AS_ROUTER", path: `${path}/${router.name}`, message: `state "${s.name}" routes by map "${router.name}", whose output is an array of its instances' outputs and has no "pathway"; route by a task that follows the map and returns { pathway: "..." }` });
    }
  }
}

/** The plan's view of a (valid) map definition. */
export function planMapOf(m: MapDef): PlanMap {
  return {
    items: m.items.toString(),
    maxConcurrency: m.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
    toleratedFailures: m.toleratedFailures ?? 0,
  };
}
