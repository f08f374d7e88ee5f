/**
 * Wire messages of protocol v3 (receivers accept v2), as zod schemas. Every message in and out of a
 * transport is parsed with these (in the strict mode; see the memory adapter for the
 * embedded fast path); a message that fails is counted as malformed and dropped,
 * never thrown.
 *
 * A run's durable history holds two kinds of stored messages, on separate subjects:
 * - **decisions** (`Decision`), written only by the run's current leaseholder: a
 *   batch of decision events (run.*, state.*, task.dispatched/retrying/succeeded/
 *   failed/skipped/cancelled). A phase of N tasks is one batch (split only to stay
 *   under the payload limit). Each batch says which reports its writer had applied
 *   (`through`: the stored sequence number of the last one), so a reader folds the
 *   history in exactly the order the writer decided it (runtime/core/history.ts).
 * - **reports** (`Report`), written by workers: one per finished attempt. A report
 *   is the verdict itself when it settles the current attempt (a success of a task
 *   without an output schema is not recorded again as task.succeeded), and it counts
 *   only when it carries the token its task message was dispatched with.
 *
 * `attempt.started`, progress and heartbeats are live signals (`LiveSignal`), not
 * stored. Control messages (cancel) are broadcast, not stored.
 *
 * `RunEvent` is the flat view a fold reads: decision events stamped with their
 * batch's `runId` and `at`, and reports as `attempt.succeeded` / `attempt.failed`
 * with their stored `seq`.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../errors/serialize.js";

/**
 * The protocol version senders write. 3: a task message with parents carries their
 * outputs once, in `parents`, and says how its input is rebuilt from them
 * (`inputFrom`) instead of carrying the merge again as `input`. Receivers accept 2
 * too: decisions, reports, live signals and control messages have the same shape in
 * both, so histories written by version 2 stay readable, and a version-2 task
 * message (input always sent) still runs. Upgrade workers before coordinators: a
 * version-2 worker drops version-3 task messages as malformed.
 */
export const WIRE_VERSION = 3;
/** The versions receivers accept (see WIRE_VERSION). */
export const wireVersionSchema = z.union([z.literal(2), z.literal(3)]);

/** Run ids are subject tokens and KV keys: letters, digits, `_` and `-`. */
export const runIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, "must be 1-200 letters, digits, _ or -");

/** Identifies one task within one visit of its state. */
const taskRef = {
  state: z.string(),
  visit: z.number().int().positive(),
  task: z.string(),
};

/** Identifies one attempt: `${runId}/${state}/${visit}/${task}/${attempt}`. */
const attemptRef = {
  ...taskRef,
  attempt: z.number().int().positive(),
  dispatchId: z.string(),
};

export const taskMessageSchema = z.object({
  v: wireVersionSchema,
  runId: runIdSchema,
  planHash: z.string(),
  workflow: z.string(),
  ...attemptRef,
  executor: z.string(),
  /** Stable across redeliveries and retries of this task in this visit and this go of the run. */
  idempotencyKey: z.string(),
  /** The task's input, when it is not rebuilt from `parents` (a root task's state input; an input a workflow schema reshaped). */
  input: z.unknown().optional(),
  /** Each parent's output, once. */
  parents: z.record(z.string(), z.unknown()),
  /**
   * Instead of `input`: the input is the merge of these parents' outputs in this order
   * (one parent: its output as is; several: the shallow merge of the plain-object ones,
   * later wins), rebuilt by the worker from `parents` (runtime/core/dataflow.ts).
   */
  inputFrom: z.array(z.string()).min(1).optional(),
  /**
   * Written null by this version (a task's timeout runs from its start, README "Traffic control"). An older
   * coordinator's end-by time (dispatch + timeoutMs), which a worker still honours.
   */
  deadline: z.number().nullable(),
  /** The attempt's execution budget, from its start on a worker; null = no limit. */
  timeoutMs: z.number().int().positive().nullable(),
  /** Epoch ms (coordinator's clock) by which the attempt must have started (`queueTimeoutMs`): later, it fails with QUEUE_TIMEOUT unrun. */
  startBy: z.number().optional(),
  /** The run's priority, 1 (first) .. 5 (last); absent = 3. Where attempts wait for worker slots, higher priority is delivered first (README "Traffic control"). */
  priority: z.number().int().min(1).max(5).optional(),
  dispatchedAt: z.number(),
  /** Which go of the run this attempt belongs to: 0 for the first, +1 per run.retried. */
  round: z.number().int().nonnegative(),
  /** The lease epoch of the coordinator that dispatched it. */
  epoch: z.number().int().nonnegative(),
  /** Unguessable; the report of this attempt must carry it. Sent only in the task message. */
  token: z.string().min(16),
  /** The task's static params (`ctx.params`). */
  params: z.unknown().optional(),
  /** `ctx.seed`: from the run's seed, the task id and the instance index; the same on every attempt. */
  seed: z.number().int().nonnegative().optional(),
  /** A map instance's place in its map (`ctx.item`). */
  item: z.object({ index: z.number().int().nonnegative(), count: z.number().int().positive() }).optional(),
  /**
   * W3C Trace Context of the coordinator's task span, the parent of the worker's attempt
   * span (telemetry/otel.ts). Absent while no tracing SDK is registered. The NATS adapter
   * sends these as message headers, not in the body.
   */
  traceparent: z.string().max(128).optional(),
  tracestate: z.string().max(512).optional(),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

/** A task limit an attempt holds (runtime/core/limit-state.ts `LimitRef`). */
export const limitRefSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("concurrency"), scope: z.string(), key: z.string(), limit: z.number().int().positive() }),
  z.object({ kind: z.literal("rate"), scope: z.string(), key: z.string(), limit: z.number().int().positive(), periodMs: z.number().int().positive() }),
]);

/** What a waiting node waits for (runtime/core/run-waits.ts). */
export const waitSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("signal"), name: z.string(), deadline: z.number().nullable() }),
  z.object({ kind: z.literal("sleep"), until: z.number() }),
  /** A child node waits for its child run `runId` (runtime/core/children.ts). */
  z.object({ kind: z.literal("child"), runId: z.string(), workflow: z.string(), version: z.string().nullable() }),
]);
export type Wait = z.infer<typeof waitSchema>;

/** A child run's place in its parent (run.started of the child): the parent run, the node (instance) and attempt that started it, and its depth (1: a child of a top-level run). */
export const parentRefSchema = z.object({ runId: z.string(), state: z.string(), visit: z.number().int().positive(), task: z.string(), attempt: z.number().int().positive(), depth: z.number().int().positive() });
export type ParentRef = z.infer<typeof parentRefSchema>;

/** Signal names and ids: what a person types on a command line, within reason. */
export const signalNameSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, "must be 1-200 letters, digits, '_', '.', ':' or '-'");

const runOptionsWire = z.object({
  schedule: z.enum(["phases", "eager"]),
  onFailure: z.enum(["fail-fast", "continue"]),
  /** 1 (first) .. 5 (last); absent = 3. */
  priority: z.number().int().min(1).max(5).optional(),
});

/** Decision events: what a coordinator decided, in a Decision batch. */
export const decisionEventSchema = z.discriminatedUnion("type", [
  /**
   * Inside a batch: the events after it were decided at `at`, once the writer had
   * applied the reports up to `seq` (a batch gathers decisions while the previous one
   * is stored).
   */
  z.object({ type: z.literal("through"), seq: z.number().int().nonnegative(), at: z.number() }),
  /** `traceparent`: the W3C trace context of the run's first span, so that whoever resumes the run traces it in the same trace. */
  z.object({ type: z.literal("run.started"), workflow: z.string(), version: z.string(), planHash: z.string(), input: z.unknown().optional(), options: runOptionsWire, seed: z.number().int().nonnegative().optional(), traceparent: z.string().max(128).optional(), parent: parentRefSchema.optional() }),
  /** A coordinator took the run (start, takeover, restart): `epoch` fences every earlier holder. */
  z.object({ type: z.literal("run.claimed"), owner: z.string(), epoch: z.number().int().nonnegative() }),
  z.object({ type: z.literal("run.succeeded"), output: z.unknown().optional() }),
  z.object({ type: z.literal("run.failed"), error: serializedErrorSchema }),
  z.object({ type: z.literal("run.cancelled"), reason: z.string() }),
  /** A failed run re-runs `tasks` of `state` visit `visit` (their downstream included); the run is running again. */
  // `keep`: map nodes among `tasks` whose succeeded instances keep their outputs and do not run again (only the others do).
  z.object({ type: z.literal("run.retried"), state: z.string(), visit: z.number().int().positive(), tasks: z.array(z.string()), reason: z.string(), keep: z.array(z.string()).optional() }),
  /**
   * The run moved onto another version's plan (README "Deploying new versions"): from here on,
   * `version` and `planHash` are its plan. `carry`: retry bookkeeping of the current visit's
   * tasks in flight (the first attempt of their go, lost attempts), which the new plan's visit keeps.
   */
  z.object({
    type: z.literal("run.upgraded"),
    from: z.object({ version: z.string(), planHash: z.string() }),
    version: z.string(),
    planHash: z.string(),
    carry: z.array(z.object({ task: z.string(), firstAttempt: z.number().int().positive(), lost: z.number().int().nonnegative() })).optional(),
  }),
  z.object({ type: z.literal("state.entered"), state: z.string(), visit: z.number().int().positive(), input: z.unknown().optional() }),
  z.object({ type: z.literal("state.exited"), state: z.string(), visit: z.number().int().positive(), output: z.unknown().optional(), next: z.string().nullable() }),
  /** `tokenHash`: the first 32 hex digits of sha-256 of the attempt's token. */
  /** `judged`: the task has an output schema, so its success is recorded as task.succeeded after the report (not taken from the report). */
  /** `deadline`: null since timeouts run from the start (an older history's dispatch + timeoutMs); `startBy`: the queue deadline (queueTimeoutMs). */
  /** `limits`: the task limits the attempt holds once sent (README "Traffic control"); a coordinator that takes the run over keeps them alive. */
  z.object({ type: z.literal("task.dispatched"), ...attemptRef, executor: z.string(), deadline: z.number().nullable(), startBy: z.number().optional(), tokenHash: z.string(), judged: z.boolean(), limits: z.array(limitRefSchema).optional() }),
  z.object({ type: z.literal("task.retrying"), ...taskRef, attempt: z.number().int().positive(), nextAttempt: z.number().int().positive(), dueAt: z.number(), error: serializedErrorSchema }),
  /** Recorded only when the verdict differs from the report: the task's output schema parsed (and may have rewritten) the output. */
  z.object({ type: z.literal("task.succeeded"), ...attemptRef, output: z.unknown().optional() }),
  z.object({ type: z.literal("task.failed"), ...taskRef, attempt: z.number().int().nonnegative(), error: serializedErrorSchema }),
  z.object({ type: z.literal("task.skipped"), ...taskRef, reason: z.string() }),
  z.object({ type: z.literal("task.cancelled"), ...taskRef, reason: z.string() }),
  /** A signal or sleep node was reached and waits (no worker slot): for a signal until `deadline` (null: no limit), for a sleep until `until`. */
  z.object({ type: z.literal("task.waiting"), ...taskRef, attempt: z.number().int().positive(), wait: waitSchema }),
  /** A signal or sleep node's wait ended: it succeeded with `output`; `signal` is the stored sequence of the signal it consumed. */
  z.object({ type: z.literal("task.waited"), ...taskRef, attempt: z.number().int().positive(), output: z.unknown().optional(), signal: z.number().int().positive().optional() }),
  /**
   * A map node expanded: `items` (from index `from`) of its `count` items, as items(input)
   * returned them, so no replay evaluates them again; a long list takes several events.
   * `tolerated`: how many failed instances it may have.
   */
  // `keep` (from 0, a retry's re-expansion of the same count): the instances that succeeded before keep their records and outputs.
  z.object({ type: z.literal("map.items"), ...taskRef, count: z.number().int().nonnegative(), tolerated: z.number().int().nonnegative(), from: z.number().int().nonnegative(), items: z.array(z.unknown()), keep: z.boolean().optional() }),
]);
export type DecisionEvent = z.infer<typeof decisionEventSchema>;

export const decisionSchema = z.object({
  v: wireVersionSchema,
  kind: z.literal("decision"),
  runId: runIdSchema,
  /** The writer: coordinator id with its per-process nonce. */
  by: z.string(),
  epoch: z.number().int().nonnegative(),
  /** Stored sequence number of the last report the writer had applied (0: none). */
  through: z.number().int().nonnegative(),
  at: z.number(),
  events: z.array(decisionEventSchema).min(1),
});
export type Decision = z.infer<typeof decisionSchema>;

/** `startedAt`: when the executor started (worker's clock); absent when it never ran (refused on arrival) or from an older worker. */
export const reportSchema = z.discriminatedUnion("type", [
  z.object({ v: wireVersionSchema, kind: z.literal("report"), type: z.literal("attempt.succeeded"), runId: runIdSchema, at: z.number(), ...attemptRef, token: z.string(), workerId: z.string(), output: z.unknown().optional(), durationMs: z.number(), startedAt: z.number().optional() }),
  z.object({ v: wireVersionSchema, kind: z.literal("report"), type: z.literal("attempt.failed"), runId: runIdSchema, at: z.number(), ...attemptRef, token: z.string(), workerId: z.string(), error: serializedErrorSchema, durationMs: z.number(), startedAt: z.number().optional() }),
]);
export type Report = z.infer<typeof reportSchema>;

/**
 * A signal sent to the run (runtime/core/run-waits.ts). Stored on the run's report subject,
 * in order with the workers' reports: anyone may append one, without the lease, and the
 * run's decider consumes it. `id` makes sending idempotent: a repeated id is folded once
 * (and NATS drops a repeat within its duplicate window already).
 */
export const signalMessageSchema = z.object({ v: wireVersionSchema, kind: z.literal("signal"), type: z.literal("signal.received"), runId: runIdSchema, at: z.number(), name: signalNameSchema, id: signalNameSchema, payload: z.unknown().optional() });
export type SignalMessage = z.infer<typeof signalMessageSchema>;

/**
 * A child run ended (runtime/core/children.ts): stored on the PARENT run's report subject by
 * whoever drove the child to its end (or found it ended), like a signal, so the parent's
 * decider consumes it in stored order and no end is lost to a crash. `runId` is the parent;
 * `child` the child run. Repeats are harmless: the fold takes a child's first end.
 */
export const childEndedMessageSchema = z.object({
  v: wireVersionSchema,
  kind: z.literal("child"),
  type: z.literal("child.ended"),
  runId: runIdSchema,
  at: z.number(),
  child: runIdSchema,
  status: z.enum(["succeeded", "failed", "cancelled"]),
  output: z.unknown().optional(),
  error: serializedErrorSchema.optional(),
});
export type ChildEndedMessage = z.infer<typeof childEndedMessageSchema>;

/** What is stored on a run's report subject: workers' reports, signals and child ends. */
export const reportSubjectSchema = z.union([reportSchema, signalMessageSchema, childEndedMessageSchema]);
export type ReportSubjectMessage = Report | SignalMessage | ChildEndedMessage;

/** What a run's history stores: decisions and reports. */
export type HistoryMessage = Decision | Report | SignalMessage | ChildEndedMessage;
export const historyMessageSchema = z.union([decisionSchema, reportSchema, signalMessageSchema, childEndedMessageSchema]);

/** A stored history message with its sequence number (monotonic per run; NATS: the stream sequence). */
export interface StoredMessage {
  seq: number;
  message: HistoryMessage;
}

/**
 * `startedAt` (worker's clock, like `at`): when the executor started. Every live signal of
 * an attempt carries it, so a coordinator that took the run over learns the start from the
 * next heartbeat and backstops the timeout from it (`at - startedAt` is the time run so far,
 * free of clock skew). Absent from older workers.
 */
export const liveSignalSchema = z.discriminatedUnion("type", [
  // `delivery`: how many times the task message was delivered (1: the first), so a repeated signal never reads as a redelivery.
  z.object({ v: wireVersionSchema, type: z.literal("attempt.started"), runId: runIdSchema, at: z.number(), ...attemptRef, workerId: z.string(), startedAt: z.number().optional(), delivery: z.number().int().positive().optional() }),
  z.object({ v: wireVersionSchema, type: z.literal("attempt.progress"), runId: runIdSchema, at: z.number(), ...attemptRef, workerId: z.string(), done: z.number(), total: z.number().optional(), startedAt: z.number().optional() }),
  z.object({ v: wireVersionSchema, type: z.literal("attempt.heartbeat"), runId: runIdSchema, at: z.number(), ...attemptRef, workerId: z.string(), startedAt: z.number().optional() }),
]);
export type LiveSignal = z.infer<typeof liveSignalSchema>;

export const controlMessageSchema = z.discriminatedUnion("type", [
  /**
   * Abort every in-flight attempt of a run (cancel, fail-fast), and refuse its queued
   * ones: those of `round` and earlier, not those of a later partial re-run.
   */
  z.object({ v: wireVersionSchema, type: z.literal("cancel.run"), runId: runIdSchema, reason: z.string(), round: z.number().int().nonnegative() }),
  /** Abort one attempt (timeout). */
  z.object({ v: wireVersionSchema, type: z.literal("cancel.attempt"), runId: runIdSchema, dispatchId: z.string(), reason: z.string() }),
]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

type Stamp = { runId: string; at: number };
type DistributiveAnd<T, U> = T extends unknown ? T & U : never;

/** A decision event as folded: stamped with its batch's run id and time. */
export type DecisionRunEvent = DistributiveAnd<DecisionEvent, Stamp>;
/** A report as folded: with the sequence number it was stored at. */
export type ReportRunEvent = Report extends infer R ? (R extends Report ? Omit<R, "v" | "kind"> & { seq: number } : never) : never;
/** A signal as folded: with the sequence number it was stored at. */
export type SignalRunEvent = Omit<SignalMessage, "v" | "kind"> & { seq: number };
/** A child's end as folded: with the sequence number it was stored at. */
export type ChildEndedRunEvent = Omit<ChildEndedMessage, "v" | "kind"> & { seq: number };
/** One step of a run's history, as `evolve` reads it. */
export type RunEvent = DecisionRunEvent | ReportRunEvent | SignalRunEvent | ChildEndedRunEvent;
export type RunEventType = RunEvent["type"];
/** What a follower of a run sees: its stored events and, if asked, its live signals (not stored). */
export type RunUpdate = RunEvent | LiveSignal;

/** Whether an update is a live signal rather than a stored event. */
export function isLiveSignal(u: RunUpdate): u is LiveSignal {
  return u.type === "attempt.started" || u.type === "attempt.progress" || u.type === "attempt.heartbeat";
}
export type RunEventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;

export function dispatchIdOf(runId: string, state: string, visit: number, task: string, attempt: number): string {
  return `${runId}/${state}/${visit}/${task}/${attempt}`;
}

/** Per task visit and per go of the run: a `retry --from` re-run gets a new key, so an idempotent executor runs again. */
export function idempotencyKeyOf(runId: string, state: string, visit: number, task: string, round: number): string {
  const base = `${runId}/${state}/${visit}/${task}`;
  return round > 0 ? `${base}#${round}` : base;
}

/** Why a schema-valid task message cannot be an attempt any coordinator dispatched (ids that do not fit together), if it cannot. */
export function undeliverableReason(m: TaskMessage): string | undefined {
  const expected = dispatchIdOf(m.runId, m.state, m.visit, m.task, m.attempt);
  if (m.dispatchId !== expected) return `its dispatchId "${m.dispatchId}" is not the one its run, state, visit, task and attempt make ("${expected}")`;
  const slash = m.executor.indexOf("/");
  if (slash <= 0 || slash === m.executor.length - 1) return `its executor "${m.executor}" is not "namespace/name"`;
  return undefined;
}
