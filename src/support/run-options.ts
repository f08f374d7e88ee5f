/**
 * Per-run options, parsed with zod into a resolved object once (at `engine.run` /
 * `coordinator.start`) and passed around resolved from then on.
 */
import { z } from "zod";

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
  })
  .strict();

export type RunOptions = z.input<typeof runOptionsSchema>;
export type ResolvedRunOptions = z.output<typeof runOptionsSchema>;
