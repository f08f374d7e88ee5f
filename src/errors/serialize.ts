/**
 * Errors cross process boundaries as plain JSON. `serializeError` keeps name, code,
 * message, stack, retryable and a (depth-limited) cause chain; `deserializeError`
 * turns that back into a `PhaseflowError` whose `code` and `name` are preserved,
 * so the coordinator applies retry policy to errors thrown on another machine.
 */
import { z } from "zod";
import { PhaseflowError } from "./base.js";

export interface SerializedError {
  name: string;
  code: string;
  message: string;
  stack?: string | undefined;
  retryable: boolean;
  cause?: SerializedError | undefined;
}

export const serializedErrorSchema: z.ZodType<SerializedError> = z.lazy(() =>
  z.object({
    name: z.string(),
    code: z.string(),
    message: z.string(),
    stack: z.string().optional(),
    retryable: z.boolean(),
    cause: serializedErrorSchema.optional(),
  }),
);

const MAX_CAUSE_DEPTH = 5;

export function serializeError(err: unknown, depth = 0): SerializedError {
  if (err instanceof PhaseflowError) {
    return withCause({ name: err.name, code: err.code, message: err.message, stack: err.stack, retryable: err.retryable }, err.cause, depth);
  }
  if (err instanceof Error) {
    const rawCode: unknown = (err as Error & { code?: unknown }).code;
    const code = typeof rawCode === "string" ? rawCode : "EXECUTOR_ERROR";
    return withCause({ name: err.name, code, message: err.message, stack: err.stack, retryable: true }, err.cause, depth);
  }
  let message: string;
  try {
    message = typeof err === "string" ? err : JSON.stringify(err) ?? String(err);
  } catch {
    message = String(err);
  }
  return { name: "NonError", code: "NON_ERROR_THROWN", message: `a non-Error value was thrown: ${message}`, retryable: true };
}

function withCause(base: SerializedError, cause: unknown, depth: number): SerializedError {
  if (cause === undefined || depth >= MAX_CAUSE_DEPTH) return base;
  return { ...base, cause: serializeError(cause, depth + 1) };
}

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

export function deserializeError(data: SerializedError): RemoteError {
  return new RemoteError(data);
}
