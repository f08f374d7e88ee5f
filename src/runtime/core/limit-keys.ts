/**
 * The limits one attempt must hold (README "Traffic control"): the plan's numbers for its
 * task's `concurrency` and `rateLimit`, at the key values their key functions give for
 * the attempt's input. Pure, but it calls the user's key functions: one that throws or
 * returns something other than a string or a number fails the task, naming the fix.
 */
import { LimitKeyError } from "../../errors/base.js";
import type { PlanTask } from "../../plan/schema.js";
import type { Definitions } from "./definition.js";
import type { LimitRef } from "./limit-state.js";

/** The attempt's limits (empty when its task has none), or the key function's failure. */
export function limitsOf(task: PlanTask, state: string, defs: Definitions, input: unknown): { ok: true; limits: LimitRef[] } | { ok: false; error: LimitKeyError } {
  const limits: LimitRef[] = [];
  const c = task.concurrency;
  const r = task.rateLimit;
  if (c === undefined && r === undefined) return { ok: true, limits };
  const keyOf = (option: "concurrency" | "rateLimit", keyed: boolean): { ok: true; key: string } | { ok: false; error: LimitKeyError } => {
    if (!keyed) return { ok: true, key: "" };
    const fn = defs.limitKey(state, task.name, option);
    if (fn === undefined) return { ok: false, error: new LimitKeyError(task.id, option, "is missing from the workflow this coordinator loaded (a different module than the plan's)") };
    let value: unknown;
    try {
      value = fn(input);
    } catch (err) {
      return { ok: false, error: new LimitKeyError(task.id, option, `threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }) };
    }
    if (typeof value === "number" && Number.isFinite(value)) return { ok: true, key: String(value) };
    if (typeof value === "string" && value.length > 0 && value.length <= 200) return { ok: true, key: value };
    return { ok: false, error: new LimitKeyError(task.id, option, `returned ${typeof value === "string" ? `a string of ${value.length} characters (1-200 wanted)` : typeof value}`) };
  };
  if (c !== undefined) {
    const k = keyOf("concurrency", c.keyed);
    if (!k.ok) return k;
    limits.push({ kind: "concurrency", scope: c.scope, key: k.key, limit: c.limit });
  }
  if (r !== undefined) {
    const k = keyOf("rateLimit", r.keyed);
    if (!k.ok) return k;
    limits.push({ kind: "rate", scope: r.scope, key: k.key, limit: r.limit, periodMs: r.periodMs });
  }
  return { ok: true, limits };
}
