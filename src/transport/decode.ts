/**
 * The receiving side of the wire's JSON step, shared by every reader (NATS codec,
 * the memory adapter's strict mode, API requests and replies, KV values): text ->
 * depth check -> JSON.parse -> zod, reporting every failure as a reason, never
 * throwing. The depth check is a single pass over the text, before anything parses
 * it, so a hostile message nested thousands of levels deep is refused with a clear
 * reason instead of overflowing a recursive parse (a zod schema, a JSON walker).
 */
import type { ZodType } from "zod";
import { PayloadTooDeepError } from "../errors/base.js";

/** Deepest nesting of arrays and objects a received message may have. */
export const MAX_DECODE_DEPTH = 128;
/**
 * Deepest nesting a sent message may have: below MAX_DECODE_DEPTH, so a value that
 * travelled once (an output in a report) still fits when it is wrapped again (in a run
 * record, in an API reply). User values get about 100 levels.
 */
export const MAX_ENCODE_DEPTH = 112;

/**
 * How deep arrays and objects nest in a JSON text, counted up to `stopAt` (then `stopAt + 1`):
 * brackets inside strings do not count. Linear, no recursion, no allocation.
 * @example jsonDepth('{"a":[1,{"b":"]"}]}') // 3
 */
export function jsonDepth(text: string, stopAt = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > stopAt) return max;
      }
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      depth--;
    }
  }
  return max;
}

/** Throws PayloadTooDeepError naming `what` when `text` nests deeper than MAX_ENCODE_DEPTH. */
export function assertEncodableDepth(text: string, what: string): void {
  const depth = jsonDepth(text, MAX_ENCODE_DEPTH);
  if (depth > MAX_ENCODE_DEPTH) throw new PayloadTooDeepError(what, depth, MAX_ENCODE_DEPTH);
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Depth-check, parse and validate a received JSON text; never throws. */
export function decodeJsonText<T>(schema: ZodType<T, unknown>, text: string): Decoded<T> {
  try {
    const depth = jsonDepth(text, MAX_DECODE_DEPTH);
    if (depth > MAX_DECODE_DEPTH) return { ok: false, reason: `nested more than ${MAX_DECODE_DEPTH} levels deep; refused unparsed` };
    let raw: unknown;
    try {
      raw = JSON.parse(text);
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
  } catch (err) {
    // A schema's refinement or transform that throws, or a stack overflow no check above foresaw.
    let detail: string;
    try {
      detail = err instanceof Error ? `${err.name}: ${err.message}` : typeof err;
    } catch {
      detail = "an undescribable error";
    }
    return { ok: false, reason: `could not be decoded (${detail.slice(0, 300)})` };
  }
}

const textDecoder = new TextDecoder();

/** Bytes -> text -> `decodeJsonText`: what every reader of a message body does; never throws. */
export function decodeJsonBytes<T>(schema: ZodType<T, unknown>, data: Uint8Array): Decoded<T> {
  let text: string;
  try {
    text = textDecoder.decode(data);
  } catch {
    return { ok: false, reason: "not text" };
  }
  return decodeJsonText(schema, text);
}
