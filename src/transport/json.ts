/**
 * The wire's JSON step, shared by both adapters so an embedded run refuses exactly
 * what a distributed one does: a value that has no JSON form (BigInt, a cycle, a
 * bare function or `undefined`) is a `PayloadNotJsonError` naming the message.
 */
import { PayloadNotJsonError } from "../errors/base.js";

/** Room kept for headers (Nats-Msg-Id, expected-sequence headers and the NATS/1.0 preamble) when checking a payload's size. */
export const HEADER_ALLOWANCE = 256;

/** Default `capabilities.maxPayload` where no server says otherwise: 1 MiB, nats-server's default max_payload. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** `JSON.stringify(value)`, or a `PayloadNotJsonError` naming `what`. */
export function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new PayloadNotJsonError(what, err);
  }
  if (text === undefined) throw new PayloadNotJsonError(what, new TypeError(`value of type ${typeof value} has no JSON form`));
  return text;
}

