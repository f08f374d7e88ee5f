/**
 * Small builders for the state runner: the wire message of one task attempt, and a
 * schema check that turns zod issues into the PhaseflowError the task fails with.
 */
import type { ZodType } from "zod";
import type { SchemaIssue } from "../errors/base.js";
import { serializeError, type SerializedError } from "../errors/serialize.js";
import type { PlanTask } from "../plan/schema.js";
import { WIRE_VERSION, dispatchIdOf, idempotencyKeyOf, type TaskMessage } from "../transport/messages.js";
import type { RunScope } from "./coordinator-scope.js";
import { toSchemaIssues } from "./coordinator-transitions.js";

export type Checked = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/**
 * Parse `value` with `schema` (when there is one): the parsed value, or the error
 * `makeError(issues)` serialized.
 * @example checkSchema(z.number(), "x", (issues) => new OutputValidationError("s/t", issues)) // { ok: false, error: {...} }
 */
export function checkSchema(schema: ZodType | undefined, value: unknown, makeError: (issues: SchemaIssue[]) => Error): Checked {
  if (!schema) return { ok: true, value };
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: serializeError(makeError(toSchemaIssues(parsed.error.issues))) };
}

export interface AttemptSpec {
  state: string;
  visit: number;
  task: PlanTask;
  attempt: number;
  input: unknown;
  parents: Record<string, unknown>;
  now: number;
}

/** The task message of one attempt (its dispatch id is per attempt, its idempotency key per task visit). */
export function taskMessageOf(scope: RunScope, a: AttemptSpec): TaskMessage {
  const { runId, plan } = scope;
  return {
    v: WIRE_VERSION,
    runId,
    planHash: plan.planHash,
    workflow: plan.workflow,
    state: a.state,
    visit: a.visit,
    task: a.task.name,
    attempt: a.attempt,
    dispatchId: dispatchIdOf(runId, a.state, a.visit, a.task.name, a.attempt),
    executor: a.task.executor,
    idempotencyKey: idempotencyKeyOf(runId, a.state, a.visit, a.task.name),
    input: a.input,
    parents: a.parents,
    deadline: a.task.timeoutMs === null ? null : a.now + a.task.timeoutMs,
    timeoutMs: a.task.timeoutMs,
    dispatchedAt: a.now,
    ...(scope.round > 0 ? { round: scope.round } : {}),
  };
}
