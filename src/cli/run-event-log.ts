/**
 * Run events as log lines, for `phaseflow run` off a terminal (or with `--json`): one
 * pino line per event on stderr, with the event's identifying fields and a short
 * one-line message. Inputs and outputs are left out (they can be large, and the final run
 * record on stdout carries them); errors are kept.
 */
import { describeWait } from "./format-wait.js";
import type { RunUpdate } from "../transport/messages.js";

export interface EventLogLine {
  level: "debug" | "info" | "warn" | "error";
  fields: Record<string, unknown>;
  msg: string;
}

/**
 * The log line of one run event.
 * @example describeEvent(event) // { level: "info", fields: { event: "task.succeeded", runId, state, task, ... }, msg: "task ingest/extract succeeded" }
 */
export function describeEvent(e: RunUpdate): EventLogLine {
  const fields: Record<string, unknown> = { event: e.type, runId: e.runId };
  if ("state" in e) fields.state = e.state;
  if ("visit" in e) fields.visit = e.visit;
  if ("task" in e) fields.task = e.task;
  if ("attempt" in e) fields.attempt = e.attempt;
  if ("workerId" in e) fields.workerId = e.workerId;
  if ("durationMs" in e) fields.durationMs = e.durationMs;
  if ("error" in e) fields.error = e.error;
  if (e.type === "run.started" && e.seed !== undefined) fields.seed = e.seed;
  const task = "task" in e ? `task ${e.state}/${e.task}` : "";
  const why = "error" in e && e.error !== undefined ? `[${e.error.code}] ${e.error.message.split("\n")[0] ?? ""}` : "";
  switch (e.type) {
    case "run.started":
      return { level: "info", fields: { ...fields, workflow: e.workflow, version: e.version, planHash: e.planHash, options: e.options }, msg: `run of workflow "${e.workflow}" started` };
    case "run.succeeded":
      return { level: "info", fields, msg: "run succeeded" };
    case "run.failed":
      return { level: "error", fields, msg: `run failed: ${why}` };
    case "run.cancelled":
      return { level: "warn", fields: { ...fields, reason: e.reason }, msg: `run cancelled: ${e.reason}` };
    case "run.retried":
      return { level: "warn", fields: { ...fields, tasks: e.tasks, reason: e.reason }, msg: `run retried from state ${e.state} (visit ${e.visit}): ${e.reason}` };
    case "run.upgraded":
      return { level: "warn", fields: { ...fields, from: e.from, version: e.version, planHash: e.planHash }, msg: `run upgraded from version ${e.from.version} to ${e.version} (plan ${e.planHash.slice(0, 12)})` };
    case "state.entered":
      return { level: "info", fields, msg: `state ${e.state} entered` };
    case "state.exited":
      return { level: "info", fields: { ...fields, next: e.next }, msg: `state ${e.state} exited${e.next === null ? "" : ` -> ${e.next}`}` };
    case "task.dispatched":
      return { level: "info", fields: { ...fields, executor: e.executor }, msg: `${task} dispatched (attempt ${e.attempt})` };
    case "task.retrying":
      return { level: "warn", fields: { ...fields, nextAttempt: e.nextAttempt, dueAt: e.dueAt }, msg: `${task} attempt ${e.attempt} failed, retrying: ${why}` };
    case "task.succeeded":
      return { level: "info", fields, msg: `${task} succeeded` };
    case "task.failed":
      return { level: "error", fields, msg: `${task} failed: ${why}` };
    case "task.skipped":
      return { level: "warn", fields: { ...fields, reason: e.reason }, msg: `${task} skipped: ${e.reason}` };
    case "task.cancelled":
      return { level: "warn", fields: { ...fields, reason: e.reason }, msg: `${task} cancelled: ${e.reason}` };
    case "run.claimed":
      return { level: "debug", fields: { ...fields, owner: e.owner, epoch: e.epoch }, msg: `run claimed by ${e.owner} (epoch ${e.epoch})` };
    case "attempt.started":
      return { level: "info", fields, msg: `${task} attempt ${e.attempt} running` };
    case "attempt.progress":
      return { level: "info", fields: { ...fields, done: e.done, ...(e.total !== undefined ? { total: e.total } : {}) }, msg: `${task} progress ${e.done}${e.total !== undefined ? `/${e.total}` : ""}` };
    case "attempt.heartbeat":
      return { level: "debug", fields, msg: `${task} attempt ${e.attempt} still running` };
    case "through":
      return { level: "debug", fields, msg: `reports applied through ${e.seq}` };
    case "map.items":
      return { level: e.from === 0 ? "info" : "debug", fields: { ...fields, count: e.count, from: e.from, items: e.items.length }, msg: e.from === 0 ? `map ${e.state}/${e.task} over ${e.count} item${e.count === 1 ? "" : "s"}` : `map ${e.state}/${e.task} items ${e.from}..${e.from + e.items.length - 1}` };
    case "attempt.succeeded":
      return { level: "info", fields, msg: `${task} attempt ${e.attempt} succeeded` };
    case "attempt.failed":
      return { level: "warn", fields, msg: `${task} attempt ${e.attempt} failed: ${why}` };
    case "task.waiting":
      return { level: "info", fields: { ...fields, wait: e.wait }, msg: `${task} ${describeWait(e.wait)}` };
    case "task.waited":
      return { level: "info", fields: e.signal === undefined ? fields : { ...fields, signalSeq: e.signal }, msg: `${task} ${e.signal === undefined ? "woke up" : "got its signal"}` };
    case "signal.received":
      return { level: "info", fields: { ...fields, name: e.name, id: e.id }, msg: `signal "${e.name}" received (id ${e.id})` };
    case "child.ended":
      return { level: e.status === "succeeded" ? "info" : "warn", fields: { ...fields, child: e.child, status: e.status }, msg: `child run ${e.child} ${e.status}${why === "" ? "" : `: ${why}`}` };
  }
}
