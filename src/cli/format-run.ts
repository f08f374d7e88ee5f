/**
 * Text views of runs for the terminal: a run record as a per-state, per-task table
 * (status, attempts, worker, duration, error), and a list of run summaries. Shared
 * by `phaseflow run` (final summary) and `phaseflow status`. A map's instances are
 * grouped under their map node: counts per status, then the ones that need a look.
 */
import { describeWait } from "./format-wait.js";
import type { Plan } from "../plan/schema.js";
import type { RunRecord, TaskRecord } from "../runtime/core/run-record-schema.js";
import type { RunSummary } from "../fleet/api-schemas.js";
import type { RunEvent } from "../transport/messages.js";

/** A state visit with more tasks than this is summarised: counts per status, then only the tasks that need a look. */
export const GROUP_TASKS_OVER = 20;

export interface FormatRunOptions {
  /** The run's plan: tasks and states not started yet are listed as pending. */
  plan?: Plan | undefined;
  /** Every failed attempt's error per task (`state/visit/task`), from the run's history. */
  attemptErrors?: ReadonlyMap<string, readonly { attempt: number; error: { code: string; message: string } }[]>;
  /** What an unfinished run that cannot move waits for (fleet: "waiting for a coordinator serving etl@1 (plan 3f2a…)"). */
  waiting?: string;
}

/** Each failed attempt's error per task, from a run's events. */
export function attemptErrorsOf(events: readonly RunEvent[]): Map<string, { attempt: number; error: { code: string; message: string } }[]> {
  const out = new Map<string, { attempt: number; error: { code: string; message: string } }[]>();
  for (const e of events) {
    if (e.type !== "attempt.failed" && e.type !== "task.retrying" && e.type !== "task.failed") continue;
    const key = `${e.state}/${e.visit}/${e.task}`;
    const list = out.get(key) ?? [];
    if (!list.some((x) => x.attempt === e.attempt)) list.push({ attempt: e.attempt, error: e.error });
    out.set(key, list);
  }
  return out;
}

function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd());
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

function oneLine(text: string, max = 100): string {
  const line = text.split("\n")[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * The run record as text: a header line, then per state visit its tasks.
 * @example io.stdout.write(formatRunRecord(record))
 */
export function formatRunRecord(record: RunRecord, options: FormatRunOptions = {}): string {
  const lines: string[] = [];
  const took = record.startedAt !== undefined && record.finishedAt !== undefined ? ` in ${formatDuration(record.finishedAt - record.startedAt)}` : "";
  lines.push(`run ${record.runId}  workflow ${record.workflow || "?"}${record.version ? `@${record.version}` : ""}  ${record.status}${took}`);
  if (record.error) lines.push(`  error [${record.error.code}] ${record.error.message.trimEnd().split("\n").join("\n    ")}`);
  if (record.reason) lines.push(`  reason: ${record.reason}`);
  if (options.waiting !== undefined) lines.push(`  ${options.waiting}`);
  lines.push(...familyLines(record));
  lines.push(...waitLines(record));
  for (const s of record.states) {
    const multi = record.states.filter((x) => x.name === s.name).length > 1;
    const next = s.next === undefined ? "" : s.next === null ? "  (end)" : `  -> ${s.next}`;
    lines.push("");
    lines.push(`state ${s.name}${multi ? ` (visit ${s.visit})` : ""}  ${s.status}${next}`);
    const here = record.tasks.filter((t) => t.state === s.name && t.visit === s.visit);
    const seen = here.filter((t) => t.map === undefined);
    const planned = options.plan?.states.find((p) => p.name === s.name)?.tasks.map((t) => t.name) ?? [];
    const tasks: TaskRecord[] = [...seen, ...planned.filter((n) => !seen.some((t) => t.task === n)).map((task) => notStarted(s.name, s.visit, task))];
    if (tasks.length === 0) continue;
    lines.push(...taskRows(tasks, options));
    for (const m of seen) if (m.instances) lines.push(...instanceRows(m, here.filter((t) => t.map === m.task), options));
  }
  // States of the plan the run has not entered (yet): their tasks, all pending.
  for (const p of options.plan?.states ?? []) {
    if (record.states.some((s) => s.name === p.name) || p.tasks.length === 0) continue;
    if (record.status !== "running" && record.status !== "pending") continue;
    lines.push("", `state ${p.name}  not entered`);
    lines.push(...taskRows(p.tasks.map((t) => notStarted(p.name, 1, t.name)), options));
  }
  return `${lines.join("\n")}\n`;
}

/** Child runs named one by one in a run's view; the rest are counted (`status --parent` lists them all). */
export const MAX_CHILD_ROWS = 20;

/** A child run's parent, and a parent's child runs (the newest attempt's of each node). */
function familyLines(record: RunRecord): string[] {
  const lines: string[] = [];
  const p = record.parent;
  if (p) lines.push(`  parent: run ${p.runId} (node ${p.state}/${p.task}, attempt ${p.attempt}, depth ${p.depth})`);
  const children = record.tasks.filter((t) => t.child !== undefined);
  if (children.length === 0) return lines;
  lines.push(`  child runs (${children.length}; all: phaseflow status --parent ${record.runId}):`);
  const rows = children.slice(0, MAX_CHILD_ROWS).map((t) => [`    ${t.id}`, t.child!, t.status]);
  lines.push(...table(rows));
  if (children.length > MAX_CHILD_ROWS) lines.push(`    ... and ${children.length - MAX_CHILD_ROWS} more`);
  return lines;
}

/** What a running run waits for: its waiting signal and sleep nodes, and signals sent that no node took yet. */
function waitLines(record: RunRecord): string[] {
  const lines = record.tasks.filter((t) => t.status === "running" && t.wait).map((t) => `  waiting: ${t.id}  ${describeWait(t.wait!)}`);
  const pending = (record.signals ?? []).filter((s) => s.consumedBy === undefined);
  if (pending.length > 0 && record.status !== "succeeded" && record.status !== "failed" && record.status !== "cancelled") {
    lines.push(`  signals not taken by a node yet: ${pending.map((s) => `"${s.name}" (id ${s.id})`).join(", ")}`);
  }
  return lines;
}

/** Most instances of a map listed one by one (failed, retrying, in flight). */
export const MAX_INSTANCE_ROWS = 10;

function instanceRows(map: TaskRecord, instances: readonly TaskRecord[], options: FormatRunOptions): string[] {
  const c = map.instances!;
  const pending = c.count - c.succeeded - c.failed - c.running - c.cancelled;
  const counts = [`${c.succeeded} succeeded`, `${c.failed} failed`, `${c.running} running`, c.cancelled > 0 ? `${c.cancelled} cancelled` : "", pending > 0 ? `${pending} not started` : ""].filter(Boolean);
  const lines = [`  ${map.task}[0..${Math.max(0, c.count - 1)}]  map of ${c.count} instance${c.count === 1 ? "" : "s"}: ${counts.join(", ")}`];
  const notable = instances.filter((t) => t.status === "failed" || t.status === "retrying" || t.status === "running" || t.status === "dispatched");
  if (notable.length === 0) return lines;
  const shown = taskRows(notable.slice(0, MAX_INSTANCE_ROWS), { ...options, groupOver: Infinity });
  lines.push(...shown.map((l) => `  ${l}`));
  if (notable.length > MAX_INSTANCE_ROWS) lines.push(`      ... and ${notable.length - MAX_INSTANCE_ROWS} more`);
  return lines;
}

function notStarted(state: string, visit: number, task: string): TaskRecord {
  return { id: `${state}/${task}`, state, visit, task, status: "pending", attempts: 0 };
}

function taskRows(tasks: readonly TaskRecord[], options: FormatRunOptions & { groupOver?: number }): string[] {
  const header = ["  task", "status", "attempts", "worker", "duration", "error"];
  const row = (t: TaskRecord): string[] => {
    const redelivered = t.redeliveries ? ` (+${t.redeliveries} redelivered)` : "";
    return [
      `  ${t.task}`,
      t.status,
      `${t.attempts}${redelivered}`,
      t.workerId ?? "-",
      formatDuration(t.durationMs),
      t.error ? `[${t.error.code}] ${oneLine(t.error.message)}` : t.reason ? oneLine(t.reason) : "",
    ];
  };
  const earlier = (t: TaskRecord): string[] => {
    const all = options.attemptErrors?.get(`${t.state}/${t.visit}/${t.task}`) ?? [];
    // Each failed attempt, when there was more than the one the row already shows.
    if (all.length < 2 && !(all.length === 1 && t.error === undefined)) return [];
    return all.map((a) => `      attempt ${a.attempt}: [${a.error.code}] ${oneLine(a.error.message, 200)}`);
  };
  if (tasks.length <= (options.groupOver ?? GROUP_TASKS_OVER)) {
    const rendered = table([header, ...tasks.map(row)]);
    return [rendered[0]!, ...tasks.flatMap((t, i) => [rendered[i + 1]!, ...earlier(t)])];
  }
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const notable = tasks.filter((t) => t.status === "failed" || t.status === "retrying" || t.status === "running" || t.status === "dispatched");
  const lines = [`  ${tasks.length} tasks: ${[...counts].map(([status, n]) => `${n} ${status}`).join(", ")}`];
  if (notable.length > 0) {
    const rendered = table([header, ...notable.map(row)]);
    lines.push(rendered[0]!, ...notable.flatMap((t, i) => [rendered[i + 1]!, ...earlier(t)]));
  }
  return lines;
}

/** A list of runs, newest first. */
export function formatRunList(runs: readonly RunSummary[], planTasks: ReadonlyMap<string, number> = new Map()): string {
  if (runs.length === 0) return "no runs\n";
  const rows = [["run", "workflow", "status", "state", "tasks ok/failed/total", "started"]];
  for (const r of runs) {
    rows.push([
      r.runId,
      r.version !== "" ? `${r.workflow}@${r.version}` : r.workflow,
      r.waiting !== undefined ? `${r.status} (${r.waiting})` : r.status,
      r.currentState ?? "-",
      // The plan's task count when known: tasks not started yet count too.
      `${r.tasks.succeeded}/${r.tasks.failed}/${Math.max(r.tasks.total, planTasks.get(r.workflow) ?? 0)}`,
      r.startedAt !== undefined ? new Date(r.startedAt).toISOString() : "-",
    ]);
  }
  return `${table(rows).join("\n")}\n`;
}
