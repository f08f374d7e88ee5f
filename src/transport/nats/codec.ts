/**
 * Bytes on the wire <-> validated messages. Outgoing messages are parsed with
 * their zod schema before they are sent (a bad one is an emitter bug: throw, send
 * nothing) and checked against the server's max payload; incoming bytes are
 * parsed as JSON and then with the schema, and a failure is reported, never thrown,
 * so one malformed message cannot crash a worker or a coordinator.
 */
import type { ZodType } from "zod";
import { PayloadTooLargeError, WireMessageInvalidError } from "../../errors/base.js";
import { HEADER_ALLOWANCE, schemaIssues, toJsonText } from "../json.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export { HEADER_ALLOWANCE };

/**
 * Validate `value` with `schema` and encode it as JSON bytes no larger than `maxPayload`.
 * Throws `WireMessageInvalidError`, `PayloadNotJsonError` or `PayloadTooLargeError`, each naming `what`.
 *
 * @example
 * const bytes = encodeMessage(taskMessageSchema, task, 'task "ingest/load"', nc.info?.max_payload);
 */
export function encodeMessage<T>(schema: ZodType<T>, value: unknown, what: string, maxPayload?: number): Uint8Array {
  const text = toJsonText(value, what);
  // Validate what the receiver will see (the JSON round trip drops undefined keys, turns Dates into strings).
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new WireMessageInvalidError(what, schemaIssues(parsed.error.issues));
  const bytes = encoder.encode(text);
  if (maxPayload !== undefined && maxPayload > 0) {
    const size = bytes.byteLength + HEADER_ALLOWANCE;
    if (size > maxPayload) throw new PayloadTooLargeError(what, bytes.byteLength, maxPayload - HEADER_ALLOWANCE);
  }
  return bytes;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Parse bytes as JSON and then with `schema`; never throws. */
export function decodeMessage<T>(schema: ZodType<T>, data: Uint8Array): Decoded<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length > 0 ? i.path.map(String).join(".") : "(root)"}: ${i.message}`)
      .join("; ");
    return { ok: false, reason: `failed its schema: ${detail}` };
  }
  return { ok: true, value: parsed.data };
}
