/**
 * Wire messages, as zod schemas: the task attempt a coordinator dispatches, the run
 * events that make up a run's durable history, and control messages (cancel).
 * Every message in and out of a transport is parsed with these; a message that
 * fails is counted as malformed and dropped (acked/terminated), never thrown.
 *
 * Events come from two sides:
 * - the **coordinator** records decisions: run.*, state.*, task.dispatched/retrying/
 *   succeeded/failed/skipped/cancelled. These are the verdicts: exactly one
 *   task.succeeded per task per state visit (a `run.retried` that re-runs a task
 *   which had succeeded starts it over: one more task.succeeded after it).
 * - **workers** report attempts: attempt.started/progress/succeeded/failed, keyed by
 *   `dispatchId`. A report that arrives late (after a timeout) or twice (redelivery)
 *   is recorded in history but the coordinator ignores it.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../errors/serialize.js";

export const WIRE_VERSION = 1;

const base = {
  runId: z.string().min(1),
  /** Epoch ms, by the emitter's clock. */
  at: z.number(),
};

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
  v: z.literal(WIRE_VERSION),
  runId: z.string().min(1),
  planHash: z.string(),
  workflow: z.string(),
  ...attemptRef,
  executor: z.string(),
  /** Stable across attempts and redeliveries of this task in this visit. */
  idempotencyKey: z.string(),
  input: z.unknown().optional(),
  parents: z.record(z.string(), z.unknown()),
  /** Epoch ms after which the coordinator no longer accepts a result; null = no limit. */
  deadline: z.number().nullable(),
  timeoutMs: z.number().int().positive().nullable(),
  dispatchedAt: z.number(),
  /** Which go of the run this attempt belongs to: absent or 0 for the first, +1 per run.retried. */
  round: z.number().int().nonnegative().optional(),
});
export type TaskMessage = z.infer<typeof taskMessageSchema>;

const runOptionsWire = z.object({
  schedule: z.enum(["phases", "eager"]),
  onFailure: z.enum(["fail-fast", "continue"]),
});

export const runEventSchema = z.discriminatedUnion("type", [
  // --- coordinator: run lifecycle
  z.object({ ...base, type: z.literal("run.started"), workflow: z.string(), version: z.string(), planHash: z.string(), input: z.unknown().optional(), options: runOptionsWire }),
  z.object({ ...base, type: z.literal("run.succeeded"), output: z.unknown().optional() }),
  z.object({ ...base, type: z.literal("run.failed"), error: serializedErrorSchema }),
  z.object({ ...base, type: z.literal("run.cancelled"), reason: z.string() }),
  /** A failed run re-runs `tasks` of `state` visit `visit` (their downstream included); the run is running again. */
  z.object({ ...base, type: z.literal("run.retried"), state: z.string(), visit: z.number().int().positive(), tasks: z.array(z.string()), reason: z.string() }),
  // --- coordinator: states
  z.object({ ...base, type: z.literal("state.entered"), state: z.string(), visit: z.number().int().positive(), input: z.unknown().optional() }),
  z.object({ ...base, type: z.literal("state.exited"), state: z.string(), visit: z.number().int().positive(), output: z.unknown().optional(), next: z.string().nullable() }),
  // --- coordinator: task verdicts
  z.object({ ...base, type: z.literal("task.dispatched"), ...attemptRef, executor: z.string(), deadline: z.number().nullable() }),
  z.object({ ...base, type: z.literal("task.retrying"), ...taskRef, attempt: z.number().int().positive(), nextAttempt: z.number().int().positive(), dueAt: z.number(), error: serializedErrorSchema }),
  z.object({ ...base, type: z.literal("task.succeeded"), ...attemptRef, output: z.unknown().optional() }),
  z.object({ ...base, type: z.literal("task.failed"), ...taskRef, attempt: z.number().int().nonnegative(), error: serializedErrorSchema }),
  z.object({ ...base, type: z.literal("task.skipped"), ...taskRef, reason: z.string() }),
  z.object({ ...base, type: z.literal("task.cancelled"), ...taskRef, reason: z.string() }),
  // --- worker: attempt reports
  z.object({ ...base, type: z.literal("attempt.started"), ...attemptRef, workerId: z.string() }),
  z.object({ ...base, type: z.literal("attempt.progress"), ...attemptRef, workerId: z.string(), done: z.number(), total: z.number().optional() }),
  z.object({ ...base, type: z.literal("attempt.succeeded"), ...attemptRef, workerId: z.string(), output: z.unknown().optional(), durationMs: z.number() }),
  z.object({ ...base, type: z.literal("attempt.failed"), ...attemptRef, workerId: z.string(), error: serializedErrorSchema, durationMs: z.number() }),
]);
export type RunEvent = z.infer<typeof runEventSchema>;
export type RunEventType = RunEvent["type"];
export type RunEventOf<T extends RunEventType> = Extract<RunEvent, { type: T }>;
/** An event before the transport stamps nothing more: same shape, for emitters. */
export type AttemptReport = RunEventOf<"attempt.started" | "attempt.progress" | "attempt.succeeded" | "attempt.failed">;

export const controlMessageSchema = z.discriminatedUnion("type", [
  /**
   * Abort every in-flight attempt of a run (cancel, fail-fast), and refuse its queued
   * ones: those of `round` (absent: 0) and earlier, not those of a later partial re-run.
   */
  z.object({ v: z.literal(WIRE_VERSION), type: z.literal("cancel.run"), runId: z.string(), reason: z.string(), round: z.number().int().nonnegative().optional() }),
  /** Abort one attempt (timeout). */
  z.object({ v: z.literal(WIRE_VERSION), type: z.literal("cancel.attempt"), runId: z.string(), dispatchId: z.string(), reason: z.string() }),
]);
export type ControlMessage = z.infer<typeof controlMessageSchema>;

export function dispatchIdOf(runId: string, state: string, visit: number, task: string, attempt: number): string {
  return `${runId}/${state}/${visit}/${task}/${attempt}`;
}

export function idempotencyKeyOf(runId: string, state: string, visit: number, task: string): string {
  return `${runId}/${state}/${visit}/${task}`;
}
