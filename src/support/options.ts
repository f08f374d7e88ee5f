/**
 * One options pipeline for every component: `XOptions -> resolveX() -> ResolvedX`. Each
 * component's `resolveX` parses what it was given with its zod schema here (defaults
 * filled in), so a bad option is always an `OptionsError` naming every bad field, then
 * completes what a schema cannot (a generated id, the system clock, a silent logger).
 */
import type { z } from "zod";
import { OptionsError } from "../errors/options.js";
import { toSchemaIssues } from "./schema-issues.js";

/**
 * Parse `options` with `schema`; `subject` names whose options they are in the error.
 * @throws OptionsError with every issue found
 * @example const o = parseOptions(workerOptionsSchema, options, "createWorker options");
 */
export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, subject: string): z.output<S> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) throw new OptionsError(subject, toSchemaIssues(parsed.error.issues));
  return parsed.data;
}
