/**
 * The wire's JSON step, shared by both adapters so an embedded run refuses exactly
 * what a distributed one does: a value that has no JSON form (BigInt, a cycle, a
 * bare function or `undefined`) is a `PayloadNotJsonError` naming the message.
 */
import { PayloadNotJsonError, PayloadTooDeepError, RunInputTooLargeError } from "../errors/base.js";
import { MAX_ENCODE_DEPTH } from "./decode.js";

/** Room kept for headers (Nats-Msg-Id, expected-sequence headers and the NATS/1.0 preamble) when checking a payload's size. */
export const HEADER_ALLOWANCE = 256;

/** Default `capabilities.maxPayload` where no server says otherwise: 1 MiB, nats-server's default max_payload. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/**
 * `JSON.stringify(value)`, or a `PayloadNotJsonError` naming `what` — or a
 * `PayloadTooDeepError` when the value nests so deep that stringify overflowed the stack
 * (thousands of levels): that is the value's real fault, not a missing JSON form.
 */
export function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    if (err instanceof RangeError) {
      const depth = valueDepth(value, MAX_ENCODE_DEPTH);
      if (depth > MAX_ENCODE_DEPTH) throw new PayloadTooDeepError(what, depth, MAX_ENCODE_DEPTH);
    }
    throw new PayloadNotJsonError(what, err);
  }
  if (text === undefined) throw new PayloadNotJsonError(what, new TypeError(`value of type ${typeof value} has no JSON form`));
  return text;
}

/** Room for a message's own fields (ids, token, times, options) around a user value. */
export const ENVELOPE_ALLOWANCE = 4096;

/** The largest run input, as JSON bytes, a transport carrying messages of up to `maxPayload` bytes takes. */
export function runInputLimit(maxPayload: number): number {
  // A small test limit keeps most of its room for the input.
  return maxPayload - HEADER_ALLOWANCE - Math.min(ENVELOPE_ALLOWANCE, Math.floor(maxPayload / 4));
}

/**
 * Refuse a run input too large for one message, up front, the same way embedded and on
 * a fleet (`RunInputTooLargeError`, exit 2); also `PayloadNotJsonError` / `PayloadTooDeepError`.
 */
export function assertRunInputFits(workflow: string, input: unknown, maxPayload: number, valueLimitOption?: string): void {
  if (input === undefined) return;
  const text = toJsonText(input, `the input of workflow "${workflow}"`);
  // With a payload store (`valueLimitOption` names its limit), the input itself may be `maxPayload` bytes.
  const limit = valueLimitOption === undefined ? runInputLimit(maxPayload) : maxPayload;
  // A UTF-8 byte is at most 3 per UTF-16 unit: count bytes only when it might matter.
  if (text.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(text);
  if (bytes > limit) throw new RunInputTooLargeError(workflow, bytes, limit, valueLimitOption);
}

/**
 * How deep arrays and objects nest in `value`, counted up to `stopAt` (then `stopAt + 1`),
 * without recursion (the value may be deeper than the stack allows).
 */
export function valueDepth(value: unknown, stopAt: number): number {
  const stack: [unknown, number][] = [[value, 0]];
  const seen = new Set<object>();
  let max = 0;
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null || seen.has(v)) continue;
    seen.add(v);
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max > stopAt) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth]);
  }
  return max;
}
