/**
 * Text views of runs for the terminal: a run record as a per-state, per-task table
 * (status, attempts, worker, duration, error), and a list of run summaries. Shared
 * by `phaseflow run` (final summary) and `phaseflow status`.
 */
import type { RunRecord } from "../runtime/run-record-schema.js";
import type { RunSummary } from "../fleet/api-schemas.js";

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
export function formatRunRecord(record: RunRecord): string {
  const lines: string[] = [];
  const took = record.startedAt !== undefined && record.finishedAt !== undefined ? ` in ${formatDuration(record.finishedAt - record.startedAt)}` : "";
  lines.push(`run ${record.runId}  workflow ${record.workflow || "?"}${record.version ? `@${record.version}` : ""}  ${record.status}${took}`);
  if (record.error) lines.push(`  error [${record.error.code}] ${record.error.message.trimEnd().split("\n").join("\n    ")}`);
  if (record.reason) lines.push(`  reason: ${record.reason}`);
  for (const s of record.states) {
    const multi = record.states.filter((x) => x.name === s.name).length > 1;
    const next = s.next === undefined ? "" : s.next === null ? "  (end)" : `  -> ${s.next}`;
    lines.push("");
    lines.push(`state ${s.name}${multi ? ` (visit ${s.visit})` : ""}  ${s.status}${next}`);
    const tasks = record.tasks.filter((t) => t.state === s.name && t.visit === s.visit);
    if (tasks.length === 0) continue;
    const rows = [["  task", "status", "attempts", "worker", "duration", "error"]];
    for (const t of tasks) {
      const redelivered = t.redeliveries ? ` (+${t.redeliveries} redelivered)` : "";
      rows.push([
        `  ${t.task}`,
        t.status,
        `${t.attempts}${redelivered}`,
        t.workerId ?? "-",
        formatDuration(t.durationMs),
        t.error ? `[${t.error.code}] ${oneLine(t.error.message)}` : t.reason ? oneLine(t.reason) : "",
      ]);
    }
    lines.push(...table(rows));
  }
  return `${lines.join("\n")}\n`;
}

/** A list of runs, newest first. */
export function formatRunList(runs: readonly RunSummary[]): string {
  if (runs.length === 0) return "no runs\n";
  const rows = [["run", "workflow", "status", "state", "tasks ok/failed/total", "started"]];
  for (const r of runs) {
    rows.push([
      r.runId,
      r.workflow,
      r.status,
      r.currentState ?? "-",
      `${r.tasks.succeeded}/${r.tasks.failed}/${r.tasks.total}`,
      r.startedAt !== undefined ? new Date(r.startedAt).toISOString() : "-",
    ]);
  }
  return `${table(rows).join("\n")}\n`;
}
