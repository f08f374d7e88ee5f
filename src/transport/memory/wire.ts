/**
 * The memory transport's stand-in for the wire, in two modes:
 * - `strict`: every message is encoded to JSON text and checked with its zod
 *   schema on the way out (and against `maxPayload`, like NATS), and every receiver
 *   parses the text and checks it again, exactly as the NATS adapter does. An
 *   embedded run then fails the way a distributed one would (a BigInt output is
 *   refused, a Date arrives as a string, `undefined` keys vanish). The contract
 *   suite and tests use it.
 * - `fast` (the embedded default): objects are passed by reference, with no JSON
 *   step and no schema parse, so an in-process phase costs far less than a network
 *   round trip. Senders must not mutate a message after handing it over, and
 *   receivers must not mutate what they get (it is the stored history itself) —
 *   except a task's input and parents' outputs, which reach the executor as its own
 *   copy per delivery (`isolateTask`), so an executor that mutates its input changes
 *   neither the record nor a sibling's input, as on a fleet.
 *
 * A payload is what the hub stores and delivers: JSON text (strict), the message
 * itself (fast), or a `Malformed` marker for an injected message that failed its
 * schema (fast mode checks injected raw messages once, when they are injected).
 */
import type { ZodType } from "zod";
import { PayloadTooLargeError, WireMessageInvalidError } from "../../errors/base.js";
import { assertEncodableDepth, decodeJsonText } from "../decode.js";
import { toSchemaIssues } from "../../support/schema-issues.js";
import { ENVELOPE_ALLOWANCE, HEADER_ALLOWANCE, toJsonText } from "../json.js";

export type WireMode = "strict" | "fast";

/** An injected message that failed its schema (fast mode). */
export class Malformed {
  constructor(readonly raw: unknown) {}
}

/** What the hub stores and hands to receivers. */
export type Payload = unknown;

export interface Wire {
  readonly mode: WireMode;
  /** An outgoing message as a payload; strict: throws `PayloadNotJsonError`, `WireMessageInvalidError` or `PayloadTooLargeError` naming `what`. */
  encode<T>(schema: ZodType<T>, value: T, what: string): Payload;
  /** A received payload as a message, or undefined when it is malformed (the receiver counts it). */
  decode<T>(schema: ZodType<T>, payload: Payload): T | undefined;
  /** An injected raw value as a payload (a string is taken as the JSON text itself in strict mode). */
  raw<T>(schema: ZodType<T>, value: unknown): Payload;
  /**
   * Fast mode with payload limits: throw what the NATS adapter would for a task message
   * or report that cannot travel (`PayloadNotJsonError`, `PayloadTooDeepError`,
   * `PayloadTooLargeError`, naming `what`). `payload` holds the message's user values
   * (input and parents, output or error), at the message's own nesting: only they are
   * encoded unless they come near the limit, then the whole message is measured. Strict
   * mode checks in `encode`; without limits, nothing. Returns the JSON text of `payload`
   * when it was made (fast mode with limits), for `isolateTask` to parse per delivery.
   */
  check(message: unknown, payload: readonly unknown[], what: string): string | undefined;
}

/**
 * @example
 * const wire = createWire("strict", 1024 * 1024);
 * const payload = wire.encode(reportSchema, report, "report");
 */
export function createWire(mode: WireMode, maxPayload: number, payloadLimits = true): Wire {
  if (mode === "strict") return strictWire(maxPayload);
  return payloadLimits ? { ...FAST_WIRE, check: (message, payload, what) => checkTravels(message, payload, what, maxPayload) } : FAST_WIRE;
}

/** The NATS adapter's checks of an outgoing message, without keeping the text. */
function checkTravels(message: unknown, payload: readonly unknown[], what: string, maxPayload: number): string {
  const text = toJsonText(payload, what);
  assertEncodableDepth(text, what);
  // A UTF-8 byte is at most 3 per UTF-16 unit: measure the whole message only when it might matter.
  if (text.length * 3 + ENVELOPE_ALLOWANCE + HEADER_ALLOWANCE <= maxPayload) return text;
  const bytes = Buffer.byteLength(toJsonText(message, what));
  if (bytes + HEADER_ALLOWANCE > maxPayload) throw new PayloadTooLargeError(what, bytes, maxPayload - HEADER_ALLOWANCE, "maxPayload");
  return text;
}

/**
 * The task message an executor gets in fast mode: its own `input` and `parents`, never
 * the objects of the run's record nor another attempt's, as a worker on a fleet gets them
 * (each delivery parsed anew from the wire). `valuesText` is the JSON text of
 * `[input, parents]` that `check` made when the task was sent: parsing it gives exactly
 * the values a fleet worker sees (Dates as strings, no undefined keys), for one parse per
 * delivery and no second stringify. Without it (no payload limits) they are deep-copied.
 * The envelope (ids, token, params) is shared: executors get it only through ctx.
 */
export function isolateTask<M extends { input?: unknown; parents: Record<string, unknown> }>(message: M, valuesText: string | undefined): M {
  const [input, parents] = (valuesText !== undefined ? JSON.parse(valuesText) : structuredClone([message.input, message.parents])) as [unknown, Record<string, unknown>];
  const copy: M = { ...message, parents };
  // JSON turned a missing input (a message with `inputFrom`) into null: keep it missing.
  if (message.input !== undefined) copy.input = input;
  return copy;
}

function strictWire(maxPayload: number): Wire {
  return {
    mode: "strict",
    encode(schema, value, what) {
      const text = toJsonText(value, what);
      assertEncodableDepth(text, what);
      const parsed = schema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new WireMessageInvalidError(what, toSchemaIssues(parsed.error.issues));
      const bytes = Buffer.byteLength(text);
      if (bytes + HEADER_ALLOWANCE > maxPayload) throw new PayloadTooLargeError(what, bytes, maxPayload - HEADER_ALLOWANCE, "maxPayload");
      return text;
    },
    decode(schema, payload) {
      if (typeof payload !== "string") return undefined;
      const decoded = decodeJsonText(schema, payload); // malformed: counted by the receiver
      return decoded.ok ? decoded.value : undefined;
    },
    raw(_schema, value) {
      return typeof value === "string" ? value : JSON.stringify(value);
    },
    check: () => undefined,
  };
}

const FAST_WIRE: Wire = {
  mode: "fast",
  encode: (_schema, value) => value,
  decode: <T>(_schema: ZodType<T>, payload: Payload) => (payload instanceof Malformed ? undefined : (payload as T)),
  check: () => undefined,
  raw: (schema, value) => {
    try {
      return schema.safeParse(value).success ? value : new Malformed(value);
    } catch {
      return new Malformed(value);
    }
  },
};
