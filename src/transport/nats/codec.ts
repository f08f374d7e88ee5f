/**
 * Bytes on the wire <-> validated messages. Outgoing messages are parsed with
 * their zod schema before they are sent (a bad one is an emitter bug: throw, send
 * nothing) and checked against the server's max payload; incoming bytes are
 * parsed as JSON and then with the schema, and a failure is reported, never thrown,
 * so one malformed message cannot crash a worker or a coordinator.
 */
import type { ZodType } from "zod";
import { PayloadTooLargeError, WireMessageInvalidError } from "../../errors/base.js";
import { assertEncodableDepth, decodeJsonBytes, type Decoded } from "../decode.js";
import { toSchemaIssues } from "../../support/schema-issues.js";
import { FAST_CHECKS, passesBeforeEncoding } from "../message-checks.js";
import { HEADER_ALLOWANCE, toJsonText } from "../json.js";

const encoder = new TextEncoder();

export { HEADER_ALLOWANCE, type Decoded };

/**
 * Validate `value` with `schema` and encode it as JSON bytes no larger than `maxPayload`.
 * Throws `WireMessageInvalidError`, `PayloadNotJsonError`, `PayloadTooDeepError` or `PayloadTooLargeError`, each naming `what`.
 *
 * @example
 * const bytes = encodeMessage(taskMessageSchema, task, 'task "ingest/load"', nc.info?.max_payload);
 */
export function encodeMessage<T>(schema: ZodType<T>, value: unknown, what: string, maxPayload?: number): Uint8Array {
  const text = toJsonText(value, what);
  assertEncodableDepth(text, what);
  // The hot messages (task message, successful report) pass a hand-written check as they are;
  // anything else is validated as the receiver will see it (the JSON round trip drops undefined
  // keys, turns Dates into strings), by the check or else by zod.
  if (!passesBeforeEncoding(schema, value)) {
    const raw: unknown = JSON.parse(text);
    if (FAST_CHECKS.get(schema)?.(raw) === undefined) {
      const parsed = schema.safeParse(raw);
      if (!parsed.success) throw new WireMessageInvalidError(what, toSchemaIssues(parsed.error.issues));
    }
  }
  const bytes = encoder.encode(text);
  if (maxPayload !== undefined && maxPayload > 0) {
    const size = bytes.byteLength + HEADER_ALLOWANCE;
    if (size > maxPayload) throw new PayloadTooLargeError(what, bytes.byteLength, maxPayload - HEADER_ALLOWANCE);
  }
  return bytes;
}

/** Parse bytes as JSON (depth-checked first) and then with `schema`; never throws. */
export const decodeMessage = decodeJsonBytes;
