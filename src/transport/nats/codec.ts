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
import { shrinkMessage, type Payloads, type ValueMessage } from "../payloads.js";

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

/**
 * `encodeMessage` for a message that carries user values: one over `payloads.inlineBytes` is
 * stored in the payload store and the message carries a reference (transport/payloads.ts).
 * Below it the only extra cost is comparing the encoded length. Without `payloads`, exactly `encodeMessage`.
 */
export async function encodeFitting<M extends ValueMessage>(schema: ZodType<M>, message: M, what: string, maxPayload: number | undefined, payloads: Payloads | undefined): Promise<Uint8Array> {
  if (payloads === undefined) return encodeMessage(schema, message, what, maxPayload);
  const data = encodeMessage(schema, message, what);
  if (data.byteLength <= payloads.inlineBytes) {
    if (maxPayload !== undefined && maxPayload > 0 && data.byteLength + HEADER_ALLOWANCE > maxPayload) throw new PayloadTooLargeError(what, data.byteLength, maxPayload - HEADER_ALLOWANCE);
    return data;
  }
  return encodeMessage(schema, await shrinkMessage(payloads, message, what), what, maxPayload);
}

/** Parse bytes as JSON (depth-checked first) and then with `schema`; never throws. */
export const decodeMessage = decodeJsonBytes;
