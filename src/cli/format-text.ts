/**
 * The human-readable dry run printed by `phaseflow compile`: per state, its phases
 * (tasks with executor keys, retries and timeouts when set), how it leaves (guarded
 * transitions in evaluation order, or a route's pathways), its critical path and its
 * widest phase. Columns are aligned per state, like a compiler's dry-run report.
 * Very wide phases are shortened (the JSON output always has every task).
 */
import type { Plan, PlanState, PlanTask } from "../plan/schema.js";
import { DEFAULT_MAX_VISITS } from "../compiler/defaults.js";
import { duration } from "./duration.js";
import { waitNodeLabel, waitNodeSettings } from "./format-wait.js";

export interface FormatTextOptions {
  /** A phase with more tasks than this shows the first few and a count of the rest. Default 12. */
  maxTasksPerPhase?: number;
  /** Guard source text longer than this is cut. Default 60. */
  maxGuardLength?: number;
}

const LABEL_WIDTH = "critical path".length;
const SHOWN_WHEN_SHORTENED = 4;

/**
 * Render a plan as aligned text.
 * @example process.stdout.write(formatPlanText(compile(etl)));
 */
export function formatPlanText(plan: Plan, options: FormatTextOptions = {}): string {
  const maxTasks = options.maxTasksPerPhase ?? 12;
  const maxGuard = options.maxGuardLength ?? 60;
  const taskCount = plan.states.reduce((n, s) => n + s.tasks.length, 0);
  const lines = [
    `workflow ${plan.workflow} (version ${plan.version})`,
    `plan ${plan.planHash.slice(0, 12)}, ${count(plan.states.length, "state")}, ${count(taskCount, "task")}, starts in "${plan.initialState}"`,
  ];
  for (const state of plan.states) {
    lines.push("", ...formatState(state, maxTasks, maxGuard));
  }
  lines.push("");
  return lines.join("\n");
}

function formatState(state: PlanState, maxTasks: number, maxGuard: number): string[] {
  const marks = [state.initial ? "initial" : "", state.final ? "final" : "", state.maxVisits !== DEFAULT_MAX_VISITS ? `max ${state.maxVisits} visits` : ""].filter(Boolean);
  const lines = [`state ${state.name}${marks.length > 0 ? ` (${marks.join(", ")})` : ""}`];
  const row = (label: string, text: string): string => `  ${label.padEnd(LABEL_WIDTH)}  ${text}`.trimEnd();

  if (state.tasks.length === 0) {
    lines.push(row("no tasks", "its input passes through as its output"));
  } else {
    const byName = new Map(state.tasks.map((t) => [t.name, t]));
    const shown = state.phases.map((p) => (p.length > maxTasks ? p.slice(0, SHOWN_WHEN_SHORTENED) : p));
    const visible = shown.flat().map((n) => byName.get(n)!);
    const nameW = Math.max(...visible.map((t) => t.name.length));
    const execOf = (t: PlanTask): string => waitNodeLabel(t) ?? t.executor;
    const execW = Math.max(...visible.map((t) => execOf(t).length));
    state.phases.forEach((phase, i) => {
      shown[i]!.forEach((name, j) => {
        const t = byName.get(name)!;
        const text = `${t.name.padEnd(nameW)}  ${execOf(t).padEnd(execW)}  ${taskSettings(t, maxGuard)}`;
        lines.push(row(j === 0 ? `phase ${i + 1}` : "", text));
      });
      if (phase.length > shown[i]!.length) {
        const rest = phase.slice(shown[i]!.length).map((n) => byName.get(n)!);
        lines.push(row("", `... and ${rest.length} more (${executorTally(rest)})`));
      }
    });
    lines.push(row("critical path", `${count(state.criticalPath.length, "task")}: ${elidePath(state.criticalPath)}`));
    const widest = widestPhase(state.phases);
    lines.push(row("widest phase", `${count(widest.size, "task")} (phase ${widest.index + 1} of ${state.phases.length})`));
  }

  if (state.route) {
    const pathways = Object.entries(state.route.pathways);
    const pw = Math.max(...pathways.map(([p]) => p.length));
    lines.push(row("route by", `${state.route.router} (its output's "pathway")`));
    for (const [p, target] of pathways) lines.push(row("", `${p.padEnd(pw)}  -> ${target}`));
  } else if (state.transitions.length > 0) {
    const tw = Math.max(...state.transitions.map((t) => t.target.length));
    const conditions = state.transitions.map((t) => `${t.guard !== null ? "when " : ""}${conditionText(state, t, maxGuard)}`);
    const cw = Math.max(...conditions.map((c) => c.length));
    state.transitions.forEach((t, i) => {
      const note = t.description !== null ? `  # ${t.description}` : "";
      lines.push(row(i === 0 ? "transitions" : "", `-> ${t.target.padEnd(tw)}  ${conditions[i]!.padEnd(cw)}${note}`));
    });
  }
  return lines;
}

function taskSettings(t: PlanTask, maxSource: number): string {
  const parts: string[] = [];
  if (t.map) {
    const tol = t.map.toleratedFailures;
    parts.push(`map over items(${shorten(t.map.items, maxSource)})  max ${t.map.maxConcurrency} in flight${tol > 0 ? `, tolerates ${tol < 1 ? `${Number((tol * 100).toFixed(2))}%` : tol} failed` : ""}`);
  }
  if (t.params !== undefined) parts.push(`params ${shorten(JSON.stringify(t.params), maxSource)}`);
  if (t.retries > 0) parts.push(`retries ${t.retries}`);
  if (t.timeoutMs !== null) parts.push(`timeout ${duration(t.timeoutMs)}`);
  parts.push(...waitNodeSettings(t));
  return parts.join(", ");
}

/** The first phase with the most tasks. */
export function widestPhase(phases: readonly (readonly string[])[]): { index: number; size: number } {
  let index = 0;
  phases.forEach((p, i) => {
    if (p.length > (phases[index]?.length ?? 0)) index = i;
  });
  return { index, size: phases[index]?.length ?? 0 };
}

/** A transition's condition: its guard's source (shortened), "fallback", or "always" when it is the only way out. */
export function conditionText(state: PlanState, t: PlanState["transitions"][number], max: number): string {
  if (t.guard !== null) return shorten(t.guard, max);
  return state.transitions.length === 1 ? "always" : "fallback";
}

/** Guard source on one line, cut to `max` characters. */
export function shorten(source: string, max: number): string {
  const flat = source.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, Math.max(0, max - 3))}...`;
}

function elidePath(path: readonly string[]): string {
  if (path.length <= 6) return path.join(" -> ");
  return [...path.slice(0, 3), "...", ...path.slice(-2)].join(" -> ");
}

function executorTally(tasks: readonly PlanTask[]): string {
  const tally = new Map<string, number>();
  for (const t of tasks) tally.set(t.executor, (tally.get(t.executor) ?? 0) + 1);
  return [...tally].map(([key, n]) => `${key} x${n}`).join(", ");
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export { duration };
