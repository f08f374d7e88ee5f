/**
 * Errors cross process boundaries as plain JSON. `serializeError` keeps name, code,
 * message, stack, retryable and a cause chain; `deserializeError` turns that back
 * into an error of the class phaseflow raises with that code (known.ts), or a
 * `RemoteError` for any other code, with `code`, `name`, message and stack preserved:
 * the coordinator applies retry policy to errors thrown on another machine, and the
 * CLI and the web view match a coordinator's errors by class.
 *
 * Nothing here recurses without a bound, and nothing throws, whatever was thrown:
 * - on the way out, `serializeError` walks the cause chain in a loop, keeps the first
 *   `MAX_CAUSE_DEPTH` causes and summarises the rest in one last cause (how many were
 *   left out, and the deepest one's name and message); a cycle ends the walk. Every
 *   property is read under try/catch (getters may throw, Proxies may trap anything),
 *   and messages and stacks are cut to a bounded length;
 * - on the way in, `serializedErrorSchema` is a fixed stack of `MAX_WIRE_CAUSE_DEPTH`
 *   object schemas, not a recursive one; whatever hangs below the last level is not
 *   parsed but summarised the same way, so a hostile 3,000-deep chain neither
 *   overflows the stack nor makes its message unreadable.
 */
import { z } from "zod";
import { PhaseflowError } from "./base.js";
import { describeValue } from "./describe.js";
import { errorClassOf } from "./known.js";

export interface SerializedError {
  name: string;
  code: string;
  message: string;
  stack?: string | undefined;
  retryable: boolean;
  cause?: SerializedError | undefined;
}

/** Causes kept by `serializeError`; deeper ones are summarised in one more cause. */
export const MAX_CAUSE_DEPTH = 5;
/** Causes a received error may nest before the rest is summarised (above MAX_CAUSE_DEPTH: errors are wrapped once more on the coordinator). */
export const MAX_WIRE_CAUSE_DEPTH = 8;
/** Longest message kept, in characters. */
export const MAX_MESSAGE_CHARS = 8_192;
/** Longest stack kept, in characters. */
export const MAX_STACK_CHARS = 16_384;
/** A summary counts causes up to this many, then says "at least". */
const MAX_COUNTED_CAUSES = 100_000;

/** The code of the cause that stands for the causes left out. */
export const CAUSES_TRUNCATED = "CAUSES_TRUNCATED";

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** `obj[key]`, or undefined when reading it throws (a getter, a Proxy trap). */
function read(obj: unknown, key: string): unknown {
  try {
    return (obj as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function isInstance(value: unknown, type: abstract new (...args: never[]) => unknown): boolean {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

/** One level of the chain, without its cause. */
function serializeOne(err: unknown): SerializedError {
  if (isInstance(err, Error)) {
    const rawName = read(err, "name");
    const rawCode = read(err, "code");
    const rawMessage = read(err, "message");
    const rawStack = read(err, "stack");
    const phaseflow = isInstance(err, PhaseflowError);
    const rawRetryable = phaseflow ? read(err, "retryable") : true;
    const base: SerializedError = {
      name: typeof rawName === "string" ? cut(rawName, 200) : "Error",
      code: typeof rawCode === "string" ? cut(rawCode, 200) : "EXECUTOR_ERROR",
      message: cut(typeof rawMessage === "string" ? rawMessage : describeValue(rawMessage), MAX_MESSAGE_CHARS),
      retryable: typeof rawRetryable === "boolean" ? rawRetryable : true,
    };
    if (typeof rawStack === "string") base.stack = cut(rawStack, MAX_STACK_CHARS);
    return base;
  }
  return { name: "NonError", code: "NON_ERROR_THROWN", message: cut(`a non-Error value was thrown: ${describeValue(err)}`, MAX_MESSAGE_CHARS), retryable: true };
}

/** The next link of a chain: an Error's `cause`; other values have none. */
function causeOf(err: unknown): unknown {
  return isInstance(err, Error) ? read(err, "cause") : undefined;
}

/** One cause standing for `omitted` left-out causes, the deepest of which is `deepest`. */
function summary(omitted: number, atLeast: boolean, deepest: SerializedError): SerializedError {
  const count = `${atLeast ? "at least " : ""}${omitted.toLocaleString("en-US")}`;
  return {
    name: "CausesTruncated",
    code: CAUSES_TRUNCATED,
    message: cut(`${count} more cause${omitted === 1 ? "" : "s"} not kept; the deepest: ${deepest.name} [${deepest.code}]: ${deepest.message}`, MAX_MESSAGE_CHARS),
    retryable: deepest.retryable,
  };
}

/** Serialize any thrown value; never throws. */
export function serializeError(err: unknown): SerializedError {
  try {
    const top = serializeOne(err);
    let last = top;
    const seen = new Set<unknown>([err]);
    let next = causeOf(err);
    let depth = 0;
    while (next !== undefined && !seen.has(next)) {
      if (depth === MAX_CAUSE_DEPTH) {
        // Count the rest (bounded, cycle-safe) and keep only the deepest one's words.
        let omitted = 0;
        let deepest: unknown = next;
        while (next !== undefined && !seen.has(next) && omitted < MAX_COUNTED_CAUSES) {
          seen.add(next);
          omitted++;
          deepest = next;
          next = causeOf(next);
        }
        last.cause = summary(omitted, next !== undefined && !seen.has(next), serializeOne(deepest));
        break;
      }
      seen.add(next);
      const level = serializeOne(next);
      last.cause = level;
      last = level;
      depth++;
      next = causeOf(next);
    }
    return top;
  } catch {
    // Only a bug above could get here; still, a worker must always have something to report.
    return { name: "Error", code: "UNSERIALIZABLE_ERROR", message: "an error was thrown that could not be described", retryable: true };
  }
}

/**
 * Whatever hangs below the last parsed level of a received error, summarised without
 * recursion: how many causes it nests (counted in a loop, bounded) and the deepest's words.
 */
function summariseUnparsed(raw: unknown): SerializedError | undefined {
  if (raw === undefined) return undefined;
  let omitted = 0;
  let deepest: unknown = raw;
  let node: unknown = raw;
  while (typeof node === "object" && node !== null && omitted < MAX_COUNTED_CAUSES) {
    omitted++;
    deepest = node;
    node = read(node, "cause");
  }
  const text = (key: string, fallback: string): string => {
    const v = read(deepest, key);
    return typeof v === "string" ? cut(v, MAX_MESSAGE_CHARS) : fallback;
  };
  const retryable = read(deepest, "retryable");
  const deepestError: SerializedError = { name: text("name", "Error"), code: text("code", "UNKNOWN"), message: text("message", describeValue(deepest).slice(0, 200)), retryable: typeof retryable === "boolean" ? retryable : true };
  if (omitted === 0) return { ...deepestError, name: "NonError", code: "NON_ERROR_CAUSE", message: `a non-error cause: ${deepestError.message}` };
  return summary(omitted, typeof node === "object" && node !== null, deepestError);
}

const errorFields = {
  name: z.string(),
  code: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  retryable: z.boolean(),
};

function levelSchema(levelsBelow: number): z.ZodType<SerializedError, unknown> {
  if (levelsBelow === 0) {
    return z.object({ ...errorFields, cause: z.unknown().optional().transform(summariseUnparsed) }).transform((e) => {
      const { cause, ...rest } = e;
      return cause === undefined ? rest : { ...rest, cause };
    });
  }
  return z.object({ ...errorFields, cause: levelSchema(levelsBelow - 1).optional() });
}

/** A serialized error as received: at most MAX_WIRE_CAUSE_DEPTH causes parsed, the rest summarised (never a recursive parse). */
export const serializedErrorSchema: z.ZodType<SerializedError, unknown> = levelSchema(MAX_WIRE_CAUSE_DEPTH);

/** A deserialized error: a PhaseflowError carrying the remote name and stack. */
export class RemoteError extends PhaseflowError {
  constructor(data: SerializedError) {
    super(data.code, data.message, {
      retryable: data.retryable,
      ...(data.cause ? { cause: new RemoteError(data.cause) } : {}),
    });
    this.name = data.name;
    if (data.stack !== undefined) this.stack = data.stack;
  }
}

/**
 * A serialized error as an error again: an instance of the class phaseflow raises with
 * its code (`instanceof RunNotFoundError`), else a `RemoteError`; its cause chain too.
 * Only what the wire carries comes back (code, name, message, stack, retryable, cause):
 * a class's own typed fields (e.g. `RunNotFoundError.runId`) are not set.
 * @example
 * if (!reply.ok) throw deserializeError(reply.error);
 */
export function deserializeError(data: SerializedError): PhaseflowError {
  const err = new RemoteError(data);
  const chain: RemoteError[] = [];
  for (let e: unknown = err; e instanceof RemoteError; e = e.cause) chain.push(e);
  for (const e of chain) {
    const known = errorClassOf(e.code);
    // The error keeps its native Error internals (stack, cause); only its class is the known one.
    if (known) Object.setPrototypeOf(e, known.prototype as object);
  }
  return err;
}
