/**
 * Request/reply messages of the coordinator service (`<p>.api.run.start|cancel|get|list`),
 * as zod schemas. Both sides parse: the service every request, the client every reply.
 * A reply is `{ ok: true, ... }` or `{ ok: false, error }` with a serialized PhaseflowError,
 * so a client re-throws the coordinator's error with its code intact.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../errors/serialize.js";
import { UPGRADE_ISSUE_CODES } from "../errors/upgrade.js";
import { planSchema } from "../plan/schema.js";
import { parentRefSchema, runIdSchema } from "../transport/messages.js";
import { runRecordSchema, runStatusSchema, runSummarySchema, type RunSummary } from "../runtime/core/run-record-schema.js";

export const startRunRequestSchema = z.object({
  workflow: z.string().min(1),
  input: z.unknown().optional(),
  options: z
    .object({
      schedule: z.enum(["phases", "eager"]).optional(),
      onFailure: z.enum(["fail-fast", "continue"]).optional(),
      runId: runIdSchema.optional(),
      seed: z.number().int().nonnegative().optional(),
      key: z.string().optional(),
      /** 1 (first) .. 5 (last); default: the workflow's, else 3 (README "Traffic control"). */
      priority: z.number().int().min(1).max(5).optional(),
    })
    .strict()
    .default({}),
  /**
   * The plan hash the submitter compiled from its own copy of the workflow. When given
   * and the coordinator serves a different plan, the start is refused (PLAN_HASH_MISMATCH)
   * instead of running a plan the submitter did not write. Absent: no check.
   */
  planHash: z.string().optional(),
  /** The workflow version to start. Absent: the latest version served (natural, semver-aware order). */
  version: z.string().min(1).optional(),
  /**
   * A child run's place in its parent (sent by the parent's coordinator, fleet/child-runs.ts).
   * A start of a child whose run id exists starts nothing: it answers `existing`.
   */
  parent: parentRefSchema.optional(),
});
export type StartRunRequest = z.input<typeof startRunRequestSchema>;

export const startRunReplySchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    runId: z.string(),
    planHash: z.string(),
    /** The workflow version the run is pinned to. */
    version: z.string().optional(),
    /** Executors no live worker serves yet: the run waits for them (pending). */
    waitingFor: z.array(z.string()),
    /** The start key had started this run before: nothing new was started. */
    existing: z.boolean().optional(),
    /** Queued by the workflow's concurrency (onLimit "queue"): what it waits for, e.g. "queued: workflow limit sync[ann] 1/1 in use, 0 queued ahead". */
    queued: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export type StartRunReply = z.infer<typeof startRunReplySchema>;

export const runIdRequestSchema = z.object({ runId: runIdSchema });
export const cancelRunRequestSchema = runIdRequestSchema.extend({ reason: z.string().optional() });

export const cancelRunReplySchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    runId: z.string(),
    status: runStatusSchema,
    /** The cancel is recorded but its run's holder could not apply it yet (it died): the run's next holder does. */
    requested: z.boolean().optional(),
  }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export type CancelRunReply = z.infer<typeof cancelRunReplySchema>;

export const getRunReplySchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    record: runRecordSchema,
    /** Why an unfinished run is not moving: "waiting for a coordinator serving etl@1 (plan 3f2a…)". */
    waiting: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export type GetRunReply = z.infer<typeof getRunReplySchema>;

export const retryRunRequestSchema = runIdRequestSchema.extend({
  /** Re-run from this task (and everything downstream) instead of from the failed tasks. */
  from: z.object({ state: z.string().min(1), task: z.string().min(1) }).optional(),
});

export const listRunsRequestSchema = z.object({
  /** Most runs returned, newest first. Default 50. */
  limit: z.number().int().positive().max(10_000).default(50),
  status: runStatusSchema.optional(),
  /** Only runs of this workflow. */
  workflow: z.string().min(1).optional(),
  /** Only the child runs of this run. */
  parent: runIdSchema.optional(),
  /** A page after this one: only runs older than the run at this cursor (its start time and id). */
  before: z.object({ at: z.number(), runId: z.string() }).optional(),
});
export type ListRunsRequest = z.input<typeof listRunsRequestSchema>;

/**
 * A run of a run list: the one `RunSummary` shape (runtime/core/run-record-schema.ts). A
 * coordinator of an earlier version sent no plan hash, no running count and no version
 * for some runs: they read as "" and 0.
 */
export const listedRunSchema = runSummarySchema.extend({
  version: z.string().default(""),
  planHash: z.string().default(""),
  tasks: z.object({ total: z.number(), succeeded: z.number(), failed: z.number(), running: z.number().default(0) }),
});
export type { RunSummary };

export const listRunsReplySchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    runs: z.array(listedRunSchema),
    /** More runs matched than fit in one reply: these are the newest. */
    truncated: z.boolean().optional(),
  }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export type ListRunsReply = z.infer<typeof listRunsReplySchema>;

/** `<p>.api.plan.get`: the plan a coordinator serves for a workflow (for progress totals and plan checks). */
export const getPlanRequestSchema = z.object({ workflow: z.string().min(1), version: z.string().min(1).optional() });

export const getPlanReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), plan: planSchema }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export type GetPlanReply = z.infer<typeof getPlanReplySchema>;

/** `<p>.api.run.signal`: send a signal to a run (checked against the workflow, then stored in its history). */
export const signalRunRequestSchema = runIdRequestSchema.extend({
  name: z.string().min(1),
  payload: z.unknown().optional(),
  /** Idempotency: a repeated id is applied once. Default: the coordinator picks one. */
  id: z.string().min(1).optional(),
});
export type SignalRunRequest = z.input<typeof signalRunRequestSchema>;

export const signalRunReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), runId: z.string(), name: z.string(), id: z.string(), duplicate: z.boolean() }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);

/** `<p>.api.run.upgrade`: move a running run onto another version of its workflow (README "Deploying new versions"). */
export const upgradeRunRequestSchema = runIdRequestSchema.extend({
  toVersion: z.string().min(1),
  /** Only check and report what would happen; change nothing. */
  dryRun: z.boolean().optional(),
});
export type UpgradeRunRequest = z.input<typeof upgradeRunRequestSchema>;

const versionPlanSchema = z.object({ version: z.string(), planHash: z.string() });

/** What an upgrade did or would do: every incompatibility in `issues` (empty: compatible). */
export const upgradeReportSchema = z.object({
  runId: z.string(),
  workflow: z.string(),
  from: versionPlanSchema,
  to: versionPlanSchema,
  state: z.string().optional(),
  dryRun: z.boolean(),
  upgraded: z.boolean(),
  issues: z.array(z.object({ code: z.enum(UPGRADE_ISSUE_CODES), path: z.string(), message: z.string() })),
});

/** An incompatible upgrade is an ok reply with `upgraded: false` and its issues (the client raises UpgradeRefusedError), so the issues travel as data. */
export const upgradeRunReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), report: upgradeReportSchema }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export type UpgradeRunReply = z.infer<typeof upgradeRunReplySchema>;
