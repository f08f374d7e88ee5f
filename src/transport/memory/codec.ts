/**
 * The memory transport's stand-in for the wire: every message is JSON round-tripped
 * and then parsed with its zod schema, exactly as the NATS adapter encodes and
 * decodes it. So an embedded run fails the same way a distributed one would (a
 * BigInt output is refused, a Date arrives as a string, `undefined` keys vanish)
 * instead of "working on my laptop".
 */
import type { ZodType } from "zod";
import { PayloadNotJsonError, WireMessageInvalidError, type SchemaIssue } from "../../errors/base.js";

/** zod issues as the errors module's plain `SchemaIssue`s. */
export function schemaIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): SchemaIssue[] {
  return issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: i.message }));
}

/** What `JSON.parse(JSON.stringify(value))` gives, or a `PayloadNotJsonError` naming `what`. */
export function jsonRoundTrip(value: unknown, what: string): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new PayloadNotJsonError(what, err);
  }
  if (text === undefined) throw new PayloadNotJsonError(what, new TypeError(`value of type ${typeof value} has no JSON form`));
  return JSON.parse(text) as unknown;
}

/**
 * Encode an outgoing message as the wire would and parse it back with its schema.
 * Throws `PayloadNotJsonError` or `WireMessageInvalidError`; nothing is sent then.
 */
export function encodeOutgoing<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const decoded = jsonRoundTrip(value, what);
  const parsed = schema.safeParse(decoded);
  if (!parsed.success) throw new WireMessageInvalidError(what, schemaIssues(parsed.error.issues));
  return parsed.data;
}

/** Parse an incoming raw message; undefined when it is malformed (the caller counts it). */
export function decodeIncoming<T>(schema: ZodType<T>, raw: unknown): T | undefined {
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
