/**
 * A workflow's schedules and sources, resolved once: ids, periods, defaults. The
 * compiler reports every problem as a validation issue (resolveTriggers collects
 * them); the coordinators serve what it returns.
 */
import { formatIssues, toSchemaIssues } from "../support/schema-issues.js";
import type { Workflow } from "../dsl/workflow.js";
import type { ValidationIssue } from "../errors/validation.js";
import type { Registry } from "../registry/registry.js";
import { checkExecutorKey, checkKeyPart } from "../registry/keys.js";
import { parsePeriod } from "./period.js";
import { resolveSchedule, type ResolvedSchedule } from "./schedule-rule.js";

/** Runs one source pass starts by default. */
export const DEFAULT_SOURCE_BATCH = 100;

export interface ResolvedSource {
  id: string;
  everyMs: number;
  every: string;
  executor: `${string}/${string}`;
  batch: number;
  timeoutMs: number;
}

export interface ResolvedTriggers {
  schedules: ResolvedSchedule[];
  sources: ResolvedSource[];
}

/**
 * Resolve and check `workflow.options.schedules` and `sources`. Issues go to `issues`
 * (nothing is thrown); what could be resolved is returned.
 */
export function resolveTriggers(wf: Workflow<unknown>, issues: ValidationIssue[], registry?: Registry): ResolvedTriggers {
  const schedules: ResolvedSchedule[] = [];
  const sources: ResolvedSource[] = [];
  const seen = new Set<string>();
  const named = (kind: string, id: string, path: string): boolean => {
    const problem = checkKeyPart(id);
    if (problem) {
      issues.push({ code: kind === "schedule" ? "INVALID_SCHEDULE" : "INVALID_SOURCE", path, message: `${kind} name "${id}" ${problem}; rename it` });
      return false;
    }
    if (seen.has(id)) {
      issues.push({ code: "DUPLICATE_TRIGGER_NAME", path, message: `two schedules or sources of workflow "${wf.name}" are named "${id}"; give each a unique name` });
      return false;
    }
    seen.add(id);
    return true;
  };
  const rawSchedules: unknown = wf.options.schedules ?? [];
  if (!Array.isArray(rawSchedules)) {
    issues.push({ code: "INVALID_SCHEDULE", path: wf.name, message: `schedules of workflow "${wf.name}" must be an array, e.g. [{ cron: "0 2 * * *" }]` });
  } else {
    (rawSchedules as NonNullable<typeof wf.options.schedules>).forEach((s, i) => {
      const path = `${wf.name}/schedules[${i}]`;
      const resolved = resolveSchedule(s, i);
      if (!resolved.ok) {
        issues.push({ code: "INVALID_SCHEDULE", path, message: `schedule ${i} of workflow "${wf.name}": ${resolved.reason}` });
        return;
      }
      if (!named("schedule", resolved.schedule.id, path)) return;
      if (wf.options.input) {
        // No input given: {} (so the schema's defaults apply), as `phaseflow run` does.
        const checked = wf.options.input.safeParse(s.input ?? {});
        if (!checked.success) {
          const detail = formatIssues(toSchemaIssues(checked.error.issues), "(input)");
          issues.push({ code: "SCHEDULE_INPUT_INVALID", path, message: `schedule "${resolved.schedule.id}" of workflow "${wf.name}" has an input the workflow's input schema rejects (${detail}); fix its input` });
          return;
        }
        resolved.schedule.input = checked.data;
      }
      schedules.push(resolved.schedule);
    });
  }
  const rawSources: unknown = wf.options.sources ?? [];
  if (!Array.isArray(rawSources)) {
    issues.push({ code: "INVALID_SOURCE", path: wf.name, message: `sources of workflow "${wf.name}" must be an array, e.g. [{ every: "60s", executor: "ns/list" }]` });
    return { schedules, sources };
  }
  (rawSources as NonNullable<typeof wf.options.sources>).forEach((src, i) => {
    const path = `${wf.name}/sources[${i}]`;
    const id = src.name ?? `src${i}`;
    const problems: string[] = [];
    const period = parsePeriod(src.every);
    if (!period.ok) problems.push(`every ${period.reason}`);
    const keyProblem = typeof src.executor === "string" ? checkExecutorKey(src.executor) : "must be a string";
    if (keyProblem) problems.push(`executor "${String(src.executor)}" is not a valid key (${keyProblem}); use "namespace/name"`);
    const batch = src.batch ?? DEFAULT_SOURCE_BATCH;
    if (!Number.isInteger(batch) || batch < 1) problems.push(`batch ${String(src.batch)} must be a whole number >= 1`);
    if (src.timeoutMs !== undefined && (!Number.isInteger(src.timeoutMs) || src.timeoutMs < 1)) problems.push(`timeoutMs ${String(src.timeoutMs)} must be a whole number of ms >= 1`);
    if (problems.length > 0) {
      issues.push({ code: "INVALID_SOURCE", path, message: `source "${id}" of workflow "${wf.name}": ${problems.join("; ")}` });
      return;
    }
    if (!named("source", id, path)) return;
    if (registry && !registry.get(src.executor)) {
      issues.push({ code: "SOURCE_EXECUTOR_NOT_REGISTERED", path, message: `source "${id}" of workflow "${wf.name}" uses executor "${src.executor}", which the registry does not hold; register it or fix the key` });
      return;
    }
    const everyMs = (period as { ms: number }).ms;
    sources.push({ id, every: src.every, everyMs, executor: src.executor, batch, timeoutMs: src.timeoutMs ?? everyMs });
  });
  return { schedules, sources };
}
