/**
 * Per-run options, parsed with zod into a resolved object once (at `engine.run` /
 * `coordinator.start`) and passed around resolved from then on.
 */
import { z } from "zod";
import { InputValidationError } from "../errors/base.js";
import { parseOptions } from "./options.js";
import { toSchemaIssues } from "./schema-issues.js";

export const runOptionsSchema = z
  .object({
    /** "phases" (default): phase n+1 starts when every task of phase n settled. "eager": a task starts as soon as its own parents succeeded. */
    schedule: z.enum(["phases", "eager"]).default("phases"),
    /** "fail-fast" (default): a failed task cancels in-flight work and fails the run. "continue": independent tasks finish, dependents are skipped, then the run fails. */
    onFailure: z.enum(["fail-fast", "continue"]).default("fail-fast"),
    /** The run's seed: every task attempt gets `ctx.seed`, derived from it, its task id and its instance index. Default: derived from the run id. */
    seed: z.number().int().min(0).max(0xffff_ffff, "a seed is a 32-bit unsigned integer (0 to 4294967295)").optional(),
    /** Choose the run id (letters, digits, `_` and `-`, so it is a valid NATS subject token). Default: a generated, time-ordered id. */
    runId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, "a run id may only contain letters, digits, '_' and '-' (1 to 200 characters)")
      .optional(),
    /**
     * Start key: a second start of the workflow with the same key returns the run the
     * first one started (same run id) instead of starting another. Default: none.
     */
    key: z.string().min(1).max(512, "a start key may be at most 512 characters").optional(),
    /** 1 (first) to 5 (last): where this run's tasks wait for worker slots, higher priority goes first, FIFO within a priority. Default: the workflow's, else 3. */
    priority: z.number().int().min(1, "a priority is 1 (first) to 5 (last)").max(5, "a priority is 1 (first) to 5 (last)").optional(),
  })
  .strict();

export type RunOptions = z.input<typeof runOptionsSchema>;
export type ResolvedRunOptions = z.output<typeof runOptionsSchema>;

/** A run's start resolved once: its options, and its input as the workflow's input schema parsed it. */
export interface ResolvedRunStart {
  readonly input: unknown;
  readonly options: ResolvedRunOptions;
}

/**
 * Resolve a run's options and input, once per start (engine.run, or the fleet coordinator
 * that accepts it; the engine then starts it as resolved).
 * @throws OptionsError for bad options, InputValidationError for an input its schema refuses
 * @example const start = resolveRunStart(wf, { day: "2024-01-01" }, { schedule: "eager" });
 */
export function resolveRunStart(workflow: { readonly name: string; readonly options: { readonly input?: z.ZodType | undefined } }, input: unknown, options: unknown = {}, subject = "run options"): ResolvedRunStart {
  const resolved = parseOptions(runOptionsSchema, options, subject);
  return { input: resolveRunInput(workflow, input), options: resolved };
}

/**
 * A run's input as the workflow's input schema parses it (the input itself without one):
 * the half of `resolveRunStart` for a start whose options were parsed before its workflow
 * was known (engine.run picks the version first).
 * @throws InputValidationError for an input its schema refuses
 */
export function resolveRunInput(workflow: { readonly name: string; readonly options: { readonly input?: z.ZodType | undefined } }, input: unknown): unknown {
  const schema = workflow.options.input;
  if (!schema) return input;
  const checked = schema.safeParse(input);
  if (!checked.success) throw new InputValidationError(workflow.name, toSchemaIssues(checked.error.issues));
  return checked.data;
}
