/**
 * A schema check for the decider that turns zod issues into the PhaseflowError a
 * task fails with.
 */
import type { ZodType } from "zod";
import { isPayloadMerge, isPayloadRef } from "../../transport/payloads.js";
import type { SchemaIssue } from "../../errors/base.js";
import { serializeError, type SerializedError } from "../../errors/serialize.js";
import { toSchemaIssues } from "../../support/schema-issues.js";

export type Checked = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/**
 * Whether `value` is, or has at its top level, a value stored as a payload (transport/payloads.ts).
 * The coordinator never fetches payloads: such a value passes its schema checks here
 * unchecked, and the executor's own schema checks it where it is opened (the worker).
 */
export function holdsPayload(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (isPayloadRef(value) || isPayloadMerge(value)) return true;
  if (Array.isArray(value)) return false;
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    if (typeof v === "object" && v !== null && (isPayloadRef(v) || isPayloadMerge(v))) return true;
  }
  return false;
}

/**
 * Parse `value` with `schema` (when there is one): the parsed value, or the error
 * `makeError(issues)` serialized.
 * @example checkSchema(z.number(), "x", (issues) => new OutputValidationError("s/t", issues)) // { ok: false, error: {...} }
 */
export function checkSchema(schema: ZodType | undefined, value: unknown, makeError: (issues: SchemaIssue[]) => Error): Checked {
  if (!schema || holdsPayload(value)) return { ok: true, value };
  const parsed = schema.safeParse(value);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: serializeError(makeError(toSchemaIssues(parsed.error.issues))) };
}
