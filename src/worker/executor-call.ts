/**
 * How a worker calls an executor and checks what goes in and out of it: executor calls
 * start after one shared macrotask boundary (attempt.ts's `invoke`), a result is awaited
 * when it is thenable, and a registered input or output schema parses synchronously when
 * it can. Apart from attempt.ts, which is the attempt's life from delivery to report.
 */
import type { ZodType } from "zod";
import type { SchemaIssue } from "../errors/base.js";
import { toSchemaIssues } from "../support/schema-issues.js";

/**
 * Executor calls waiting for their macrotask boundary. One `setImmediate` runs every
 * call queued before it, instead of one each: the reports of executors that return at
 * once are then published in the same turn and leave in one socket write (the NATS
 * client flushes once per microtask checkpoint), not one write per task.
 */
let startQueue: (() => void)[] = [];

export function afterMacrotask(start: () => void): void {
  startQueue.push(start);
  if (startQueue.length === 1) setImmediate(runStarts);
}

function runStarts(): void {
  const starts = startQueue;
  startQueue = [];
  for (const start of starts) {
    try {
      start();
    } catch (err) {
      // As uncaught as it was from a setImmediate of its own, without losing the other starts.
      setImmediate(() => {
        throw err;
      });
    }
  }
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** Parse with a registered schema (sync when it can be, async when it has async refinements). */
export async function parseWith(schema: ZodType, value: unknown): Promise<{ ok: true; value: unknown } | { ok: false; issues: SchemaIssue[] }> {
  let result;
  try {
    result = schema.safeParse(value);
  } catch {
    result = await schema.safeParseAsync(value);
  }
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: toSchemaIssues(result.error.issues) };
}
