/**
 * The run record: what `handle.result()`, `handle.status()`, `phaseflow run --json`
 * and the `pf_runs` KV bucket show for a run. It is derived only from the run's
 * events (see run-record.ts), so whoever holds the history can rebuild it; this
 * module is its zod schema and types.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../../errors/serialize.js";
import { parentRefSchema, waitSchema } from "../../transport/messages.js";

export const runStatusSchema = z.enum(["pending", "running", "succeeded", "failed", "cancelled"]);
export type RunStatus = z.infer<typeof runStatusSchema>;

export const taskStatusSchema = z.enum(["pending", "dispatched", "running", "succeeded", "failed", "retrying", "skipped", "cancelled"]);
export type TaskStatus = z.infer<typeof taskStatusSchema>;

/** `running` until the state exits; `failed` / `cancelled` when the run ended inside it. */
export const stateStatusSchema = z.enum(["running", "succeeded", "failed", "cancelled"]);
export type StateStatus = z.infer<typeof stateStatusSchema>;

export const runOptionsRecordSchema = z.object({
  schedule: z.enum(["phases", "eager"]),
  onFailure: z.enum(["fail-fast", "continue"]),
  /** 1 (first) .. 5 (last); absent = 3 (README "Traffic control"). */
  priority: z.number().int().min(1).max(5).optional(),
});

export const stateRecordSchema = z.object({
  name: z.string(),
  /** 1 on the first entry, 2 after a loop back, ... */
  visit: z.number().int().positive(),
  status: stateStatusSchema,
  enteredAt: z.number(),
  exitedAt: z.number().optional(),
  input: z.unknown().optional(),
  output: z.unknown().optional(),
  /** The state chosen next; null when the run ended here. */
  next: z.string().nullable().optional(),
});
export type StateRecord = z.infer<typeof stateRecordSchema>;

export const taskRecordSchema = z.object({
  /** `state/task`. */
  id: z.string(),
  state: z.string(),
  visit: z.number().int().positive(),
  task: z.string(),
  /** Absent when the task was never dispatched (skipped, or its input failed its schema). */
  executor: z.string().optional(),
  status: taskStatusSchema,
  /** Attempts dispatched so far. */
  attempts: z.number().int().nonnegative(),
  /** The current (last) attempt's dispatch id. */
  dispatchId: z.string().optional(),
  workerId: z.string().optional(),
  /** When a worker first started this task (its first attempt.started). */
  startedAt: z.number().optional(),
  /** When the coordinator settled the task (succeeded, failed, skipped, cancelled). */
  finishedAt: z.number().optional(),
  /** The last finished attempt's run time, as measured by the worker. */
  durationMs: z.number().optional(),
  /** While retrying: when the next attempt is due. */
  dueAt: z.number().optional(),
  output: z.unknown().optional(),
  /** The last attempt's error (kept while retrying, and on failure). */
  error: serializedErrorSchema.optional(),
  progress: z.object({ done: z.number(), total: z.number().optional() }).optional(),
  /** How often the current attempt was delivered again, as its live attempt.started signals show (attempts under 200 ms send none). */
  redeliveries: z.number().int().nonnegative().optional(),
  /** Why the task was skipped or cancelled. */
  reason: z.string().optional(),
  /** A signal or sleep node waiting (status running): what for, and until when. */
  wait: waitSchema.optional(),
  /** An attempt held back by a task limit (status dispatched, not sent to workers yet): what for, e.g. "waiting for limit llm/complete[acme]: 8/8 in use". */
  waitingFor: z.string().optional(),
  /** A child node: the run id of its (last) child run. */
  child: z.string().optional(),
  /** A map instance (`run[3]`): the name of its map node, and its index in the items. */
  map: z.string().optional(),
  index: z.number().int().nonnegative().optional(),
  /** A map node: how its instances stand (`running`: dispatched, running or retrying). */
  instances: z.object({ count: z.number().int().nonnegative(), succeeded: z.number().int().nonnegative(), failed: z.number().int().nonnegative(), running: z.number().int().nonnegative(), cancelled: z.number().int().nonnegative() }).optional(),
});
export type TaskRecord = z.infer<typeof taskRecordSchema>;

export const signalRecordSchema = z.object({
  name: z.string(),
  id: z.string(),
  at: z.number(),
  seq: z.number().int().positive(),
  consumedBy: z.string().optional(),
});
export type SignalRecord = z.infer<typeof signalRecordSchema>;

export const runRecordSchema = z.object({
  runId: z.string(),
  workflow: z.string(),
  version: z.string(),
  planHash: z.string(),
  status: runStatusSchema,
  options: runOptionsRecordSchema.optional(),
  input: z.unknown().optional(),
  output: z.unknown().optional(),
  error: serializedErrorSchema.optional(),
  /** Why the run was cancelled. */
  reason: z.string().optional(),
  /** What a pending run waits for before it starts, e.g. "queued: workflow limit signup[user-7] 1/1 in use, 0 queued ahead" (README "Traffic control"). */
  waitingFor: z.string().optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  /** A child run: its parent run, and the node and attempt that started it. */
  parent: parentRefSchema.optional(),
  /** The run's seed (recorded at start): `ctx.seed` of every task derives from it. */
  seed: z.number().int().nonnegative().optional(),
  /** The state entered last. */
  currentState: z.string().optional(),
  /** One entry per state visit, in entry order. */
  states: z.array(stateRecordSchema),
  /** One entry per task per state visit, in order of its first event. */
  tasks: z.array(taskRecordSchema),
  /** Moves onto another version's plan (`phaseflow upgrade`), oldest first; `version` and `planHash` above are the plan it runs now. Absent: none. */
  upgrades: z.array(z.object({ at: z.number(), from: z.object({ version: z.string(), planHash: z.string() }), version: z.string(), planHash: z.string() })).optional(),
  /** Signals sent to the run, in stored order (each id once); `consumedBy`: the node (`state/task`) that took it. Absent: none sent. */
  signals: z.array(signalRecordSchema).optional(),
});
export type RunRecord = z.infer<typeof runRecordSchema>;

/**
 * A run's status and task counts, without its task records: the one summary shape of a
 * run, for the KV summary, `handle.summary()`, a status check, the fleet's run list
 * (which adds `waiting`), the CLI and the web view.
 */
export const runSummarySchema = z.object({
  runId: z.string(),
  workflow: z.string(),
  /** The workflow version the run is pinned to ("" before its start is folded). */
  version: z.string(),
  planHash: z.string(),
  status: runStatusSchema,
  currentState: z.string().optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  /** Why the run failed; a run list leaves it out to keep its replies small (a run's record has it). */
  error: serializedErrorSchema.optional(),
  /** A child run: its parent's run id. */
  parent: z.string().optional(),
  /** Why an unfinished run is not moving: "waiting for a coordinator serving etl@1 (plan 3f2a…)" (a fleet's run list). */
  waiting: z.string().optional(),
  /** Task records (map instances included): all, succeeded, failed, and dispatched or running. */
  tasks: z.object({ total: z.number(), succeeded: z.number(), failed: z.number(), running: z.number() }),
});
export type RunSummary = z.infer<typeof runSummarySchema>;
