/** The schedules and sources of a workflow, for `phaseflow compile`'s text output (they are not part of the plan). */
import type { Workflow } from "../dsl/workflow.js";
import { resolveTriggers } from "../triggers/resolve.js";

/** Empty when the workflow declares none. `now` gives each schedule's next tick. */
export function formatTriggersText(wf: Workflow<unknown>, now: number): string {
  const { schedules, sources } = resolveTriggers(wf, []);
  const lines: string[] = [];
  if (schedules.length > 0) {
    lines.push("schedules (served by the coordinators):");
    for (const s of schedules) {
      const next = s.nextAfter(now);
      lines.push(`  ${s.id}  ${s.describe}  catch-up ${s.catchUp}${next !== undefined ? `  next ${new Date(next).toISOString()}` : ""}`);
    }
  }
  if (sources.length > 0) {
    lines.push("sources (served by the coordinators):");
    for (const s of sources) lines.push(`  ${s.id}  every ${s.every} via ${s.executor}  batch ${s.batch}`);
  }
  return lines.length > 0 ? `\n${lines.join("\n")}\n` : "";
}
