/**
 * A schema check for the decider that turns zod issues into the PhaseflowError a
 * task fails with.
 */
import type { ZodType } from "zod";
import { isPayloadMerge, isPayloadRef } from "../../transport/payloads.js";
import { viewValue, type PayloadView } from "./payload-view.js";
import type { SchemaIssue } from "../../errors/base.js";
import { serializeError, type SerializedError } from "../../errors/serialize.js";
import { toSchemaIssues } from "../../support/schema-issues.js";

export type Checked = { ok: true; value: unknown } | { ok: false; error: SerializedError };

/**
 * Whether `value` is, or has at its top level, a value stored as a payload (transport/payloads.ts).
 * A task's input and output pass `checkSchema` unchecked then: the executor's own schema
 * checks them where they are opened (the worker). Values no worker opens (a state's output,
 * a signal's payload) are checked by `checkOpened`, which looks the payloads up.
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

/**
 * `checkSchema` for a value that no worker opens (a state's output, a signal's payload):
 * one holding payload references is checked on its looked-up value (payload-view.ts), so
 * a value over `inlineBytes` fails exactly as a small one does. Passing, it stays as
 * stored (its references) unless the schema changed it (a default, a stripped key): then
 * it is the parsed value, which its sender stores as a payload again.
 * @throws PayloadsNeeded when a payload it holds is not fetched yet (the decider asks for it)
 * @example checkOpened(schema, { $pfref: "sha256:ab", bytes: 300000 }, cache, (issues) => new StateOutputValidationError("s", issues))
 */
export function checkOpened(schema: ZodType | undefined, value: unknown, view: PayloadView | undefined, makeError: (issues: SchemaIssue[]) => Error): Checked {
  if (!schema || !holdsPayload(value)) return checkSchema(schema, value, makeError);
  const opened = viewValue(value, view);
  const parsed = schema.safeParse(opened);
  if (!parsed.success) return { ok: false, error: serializeError(makeError(toSchemaIssues(parsed.error.issues))) };
  return { ok: true, value: sameJson(parsed.data, opened) ? value : parsed.data };
}

/** Whether two JSON values are equal (key order aside). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bs = b as unknown[];
    return a.length === bs.length && a.every((x, i) => sameJson(x, bs[i]));
  }
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  return ak.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
