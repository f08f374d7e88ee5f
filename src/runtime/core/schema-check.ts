/**
 * A schema check for the decider that turns zod issues into the PhaseflowError a
 * task fails with.
 */
import type { ZodType } from "zod";
import type { SchemaIssue } from "../../errors/base.js";
import { serializeError, type SerializedError } from "../../errors/serialize.js";
import { toSchemaIssues } from "../../support/schema-issues.js";

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
