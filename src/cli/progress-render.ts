/**
 * The live progress view of `phaseflow run` as plain lines of text: a header for the
 * run, then per state visit a bar and its task counts (done / failed / running /
 * total, elapsed), and under a running state the tasks in flight with their attempt
 * and reported progress; a map node shows as one line of its instances' counts
 * (`run  37/60 done, 1 failed, 16 running`). It is a pure function of a run record and "now", so it is
 * tested without a terminal; `progress-terminal.ts` redraws these lines in place.
 */
import { describeWait } from "./format-wait.js";
import type { RunRecord, StateRecord, TaskRecord } from "../runtime/core/run-record-schema.js";
import { formatDuration } from "./format-run.js";

export interface ProgressRenderOptions {
  /** Epoch ms used as "now" for elapsed times of what is still running. */
  now: number;
  /**
   * Tasks each state declares, by state name, so a bar counts tasks that were not
   * dispatched yet. Default: only the tasks seen in the record so far.
   */
  totals?: Readonly<Record<string, number>>;
  /** Lines are cut to fit this many columns (minus one, so they never wrap). Default 80. */
  width?: number;
  /** Characters of a bar. Default 16. */
  barWidth?: number;
  /** Most state visits shown (the latest ones); earlier ones collapse into one line. Default 8. */
  maxStates?: number;
  /** Most in-flight tasks listed under a running state. Default 5. */
  maxTasks?: number;
}

/** How the tasks of one state visit stand. */
export interface StateCounts {
  total: number;
  succeeded: number;
  failed: number;
  /** Dispatched, running or waiting to retry. */
  running: number;
  skipped: number;
  cancelled: number;
}

const IN_FLIGHT = new Set<TaskRecord["status"]>(["dispatched", "running", "retrying"]);
const STATE_MARK: Record<StateRecord["status"], string> = { running: ">", succeeded: "✓", failed: "✗", cancelled: "-" };

/**
 * Count the tasks of one state visit. `declared` (the state's task count) raises the
 * total when not every task has shown up in the record yet.
 * @example countStateTasks(record, "ingest", 1, 5) // { total: 5, succeeded: 3, failed: 0, running: 2, ... }
 */
export function countStateTasks(record: RunRecord, state: string, visit: number, declared = 0): StateCounts {
  const counts: StateCounts = { total: 0, succeeded: 0, failed: 0, running: 0, skipped: 0, cancelled: 0 };
  for (const t of record.tasks) {
    // A map instance is not a task of the state's DAG: its map node counts for it.
    if (t.state !== state || t.visit !== visit || t.map !== undefined) continue;
    counts.total += 1;
    if (t.status === "succeeded") counts.succeeded += 1;
    else if (t.status === "failed") counts.failed += 1;
    else if (t.status === "skipped") counts.skipped += 1;
    else if (t.status === "cancelled") counts.cancelled += 1;
    else if (IN_FLIGHT.has(t.status)) counts.running += 1;
  }
  counts.total = Math.max(counts.total, declared);
  return counts;
}

/**
 * A bar of `width` characters, `fraction` (0..1) of it filled.
 * @example progressBar(0.5, 4) // "██░░"
 */
export function progressBar(fraction: number, width: number): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return "█".repeat(filled) + "░".repeat(width - filled);
}

function cut(line: string, width: number): string {
  const max = Math.max(10, width - 1);
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function elapsed(from: number | undefined, to: number | undefined, now: number): string {
  if (from === undefined) return "-";
  return formatDuration(Math.max(0, (to ?? now) - from));
}

function stateLabel(s: StateRecord, record: RunRecord): string {
  const visits = record.states.filter((x) => x.name === s.name).length;
  return visits > 1 ? `${s.name} #${s.visit}` : s.name;
}

function stateLine(record: RunRecord, s: StateRecord, labelWidth: number, o: Required<Omit<ProgressRenderOptions, "totals">> & Pick<ProgressRenderOptions, "totals">): string {
  const c = countStateTasks(record, s.name, s.visit, o.totals?.[s.name] ?? 0);
  const settled = c.succeeded + c.failed + c.skipped + c.cancelled;
  const fraction = c.total === 0 ? (s.status === "running" ? 0 : 1) : settled / c.total;
  const counts = [`${c.succeeded}/${c.total} done`, `${c.failed} failed`, `${c.running} running`];
  if (c.skipped > 0) counts.push(`${c.skipped} skipped`);
  if (c.cancelled > 0) counts.push(`${c.cancelled} cancelled`);
  const parts = [
    `${STATE_MARK[s.status]} ${stateLabel(s, record).padEnd(labelWidth)}`,
    progressBar(fraction, o.barWidth),
    counts.join(", "),
    elapsed(s.enteredAt, s.exitedAt ?? (s.status === "running" ? undefined : record.finishedAt), o.now),
  ];
  if (s.next !== undefined && s.next !== null) parts.push(`-> ${s.next}`);
  return `  ${parts.join("  ")}`;
}

/** A map node's line: `run  37/60 done, 1 failed, 16 running`. */
export function mapLine(t: TaskRecord): string {
  const c = t.instances!;
  const parts = [`${c.succeeded}/${c.count} done`, `${c.failed} failed`, `${c.running} running`];
  if (c.cancelled > 0) parts.push(`${c.cancelled} cancelled`);
  return `      ${t.task}  ${parts.join(", ")}`;
}

function taskLine(t: TaskRecord, now: number): string {
  // A signal or sleep node: what it waits for says more than "running".
  if (t.wait) return [`      ${t.task}`, describeWait(t.wait, now), ...(t.startedAt !== undefined ? [formatDuration(Math.max(0, now - t.startedAt))] : [])].join("  ");
  const parts = [`      ${t.task}`, t.status, `attempt ${t.attempts}`];
  if (t.progress) parts.push(t.progress.total === undefined ? `${t.progress.done} done` : `${t.progress.done}/${t.progress.total}`);
  if (t.status === "retrying") {
    if (t.dueAt !== undefined) parts.push(`next in ${formatDuration(Math.max(0, t.dueAt - now))}`);
    if (t.error) parts.push(`last error [${t.error.code}] ${t.error.message.split("\n")[0] ?? ""}`);
  } else if (t.startedAt !== undefined) {
    parts.push(formatDuration(Math.max(0, now - t.startedAt)));
  }
  return parts.join("  ");
}

/**
 * The progress view of a run, one string per line (no trailing newlines, no ANSI codes).
 * @example
 * renderProgress(record, { now: Date.now(), totals: { ingest: 5, report: 1 } })
 * // [ "etl@1  run_0abc  running  1.20s",
 * //   "  > ingest  ██████████░░░░░░  3/5 done, 0 failed, 2 running  1.20s",
 * //   "      load  running  attempt 1  120/200  0.30s" ]
 */
export function renderProgress(record: RunRecord, options: ProgressRenderOptions): string[] {
  const o = { width: 80, barWidth: 16, maxStates: 8, maxTasks: 5, ...options };
  const name = record.workflow === "" ? "workflow" : `${record.workflow}${record.version ? `@${record.version}` : ""}`;
  const status = record.status === "pending" ? "starting" : record.status;
  const lines = [`${name}  ${record.runId}  ${status}  ${elapsed(record.startedAt, record.finishedAt, o.now)}`];
  const shown = record.states.slice(-o.maxStates);
  const hidden = record.states.length - shown.length;
  if (hidden > 0) lines.push(`  … ${hidden} earlier state visit${hidden === 1 ? "" : "s"}`);
  const labelWidth = Math.max(0, ...shown.map((s) => stateLabel(s, record).length));
  for (const s of shown) {
    lines.push(stateLine(record, s, labelWidth, o));
    if (s.status !== "running") continue;
    const here = record.tasks.filter((t) => t.state === s.name && t.visit === s.visit);
    for (const t of here) if (t.instances && t.map === undefined) lines.push(mapLine(t));
    const inFlight = here.filter((t) => IN_FLIGHT.has(t.status) && !t.instances && t.map === undefined);
    for (const t of inFlight.slice(0, o.maxTasks)) lines.push(taskLine(t, o.now));
    if (inFlight.length > o.maxTasks) lines.push(`      … and ${inFlight.length - o.maxTasks} more`);
  }
  return lines.map((l) => cut(l, o.width));
}
