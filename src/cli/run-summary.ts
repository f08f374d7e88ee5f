/**
 * What `phaseflow run` prints once a run ended: on a terminal, the per-task table
 * (`formatRunRecord`) and the run's output as pretty JSON; off a terminal (or with
 * `--json`), the run record as JSON. A run that failed or was cancelled also gets
 * short lines on stderr naming each failed task, its attempts and its last error, in
 * both modes, so a script's log shows why without parsing the record.
 */
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import { formatRunRecord } from "./format-run.js";

/** A message with every line kept (an issue list stays whole), continuation lines indented under the first. */
const whole = (text: string): string => text.trimEnd().split("\n").join("\n    ");

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * The stderr lines for a run that did not succeed (empty for a succeeded run): one per
 * failed task, or the run's own error when no task failed (a guard threw, no transition
 * matched, ...), or the cancel reason.
 * @example
 * describeRunFailure(record)
 * // 'phaseflow run: run run_0abc failed: task ingest/load failed after 3 attempts: [DISK_FULL] no space left\n'
 */
export function describeRunFailure(record: RunRecord, prefix = "phaseflow run"): string {
  if (record.status === "succeeded") return "";
  const head = `${prefix}: run ${record.runId} ${record.status === "failed" || record.status === "cancelled" ? record.status : `did not finish (${record.status})`}`;
  // A map's failed instances are summed up in its own error (how many, the first one).
  const failed = record.tasks.filter((t) => t.status === "failed" && t.map === undefined);
  const lines: string[] = [];
  for (const t of failed) {
    const visit = record.states.filter((s) => s.name === t.state).length > 1 ? ` (visit ${t.visit})` : "";
    const attempts = t.instances ? `(map, ${t.instances.failed} of ${plural(t.instances.count, "instance")} failed)` : t.attempts === 0 ? "before its first attempt" : `after ${plural(t.attempts, "attempt")}`;
    const error = t.error ? `: [${t.error.code}] ${whole(t.error.message)}` : "";
    lines.push(`${head}: task ${t.state}/${t.task}${visit} failed ${attempts}${error}`);
  }
  if (lines.length === 0) {
    if (record.status === "cancelled") lines.push(`${head}: ${record.reason ?? "cancelled"}`);
    else if (record.error) lines.push(`${head}: [${record.error.code}] ${whole(record.error.message)}`);
    else lines.push(head);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * The terminal's final view: the per-task table, then the output as pretty JSON.
 * @example io.stdout.write(formatRunResult(record))
 */
export function formatRunResult(record: RunRecord): string {
  const table = formatRunRecord(record);
  if (record.status !== "succeeded" || record.output === undefined) return table;
  return `${table}\noutput:\n${JSON.stringify(record.output, null, 2)}\n`;
}

/** The record as the JSON `phaseflow run --json` prints (pretty, one trailing newline). */
export function formatRunJson(record: RunRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}
