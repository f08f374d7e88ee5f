/**
 * The memory transport's stand-in for the wire: every message is JSON round-tripped
 * and then parsed with its zod schema, exactly as the NATS adapter encodes and
 * decodes it. So an embedded run fails the same way a distributed one would (a
 * BigInt output is refused, a Date arrives as a string, `undefined` keys vanish)
 * instead of "working on my laptop".
 */
import type { ZodType } from "zod";
import { WireMessageInvalidError } from "../../errors/base.js";
import { schemaIssues, toJsonText } from "../json.js";

/** What `JSON.parse(JSON.stringify(value))` gives, or a `PayloadNotJsonError` naming `what`. */
export function jsonRoundTrip(value: unknown, what: string): unknown {
  return JSON.parse(toJsonText(value, what)) as unknown;
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
