/**
 * `phaseflow compile --mermaid`: the plan as a mermaid `flowchart`, pasteable into
 * GitHub markdown. Each state is a subgraph holding its task DAG; transitions and
 * route pathways are edges between subgraphs, labelled with the guard (or
 * "fallback") or the pathway name. A map node is one stacked node. Node ids are generated (`s0`, `s0t1`), so any
 * task name is safe; labels escape the characters mermaid treats specially.
 */
import { waitNodeLabel } from "./format-wait.js";
import type { Plan } from "../plan/schema.js";
import { conditionText } from "./format-text.js";

/**
 * Render a plan as a mermaid flowchart.
 * @example process.stdout.write(formatPlanMermaid(compile(etl)));
 * // flowchart TB
 * //   subgraph s0["ingest (initial)"] ...
 */
export function formatPlanMermaid(plan: Plan): string {
  const lines = ["flowchart TB", `  start(("start")) --> s${stateIndex(plan, plan.initialState)}`];
  plan.states.forEach((state, si) => {
    const marks = [state.initial ? "initial" : "", state.final ? "final" : ""].filter(Boolean);
    lines.push(`  subgraph s${si}[${label(`${state.name}${marks.length > 0 ? ` (${marks.join(", ")})` : ""}`)}]`);
    lines.push("    direction TB");
    if (state.tasks.length === 0) {
      lines.push(`    s${si}pass[${label("no tasks: input passes through")}]`);
    }
    const id = new Map(state.tasks.map((t, ti) => [t.name, `s${si}t${ti}`]));
    for (const t of state.tasks) {
      // A map node is drawn stacked (mermaid's "st-rect" shape): one node, many instances at run time.
      // Signal nodes are hexagons, sleep nodes stadiums: they wait, they run nothing.
      if (t.map) lines.push(`    ${id.get(t.name)}@{ shape: st-rect, label: ${label(`${t.name}[]<br/>${t.executor}<br/>map, max ${t.map.maxConcurrency} in flight`)} }`);
      else {
        const text = label(`${t.name}<br/>${waitNodeLabel(t) ?? t.executor}`);
        lines.push(`    ${id.get(t.name)}${t.wait?.kind === "signal" ? `{{${text}}}` : t.wait?.kind === "sleep" ? `([${text}])` : `[${text}]`}`);
      }
    }
    for (const [from, to] of state.edges) lines.push(`    ${id.get(from)} --> ${id.get(to)}`);
    lines.push("  end");
  });
  plan.states.forEach((state, si) => {
    if (state.route) {
      for (const [pathway, target] of Object.entries(state.route.pathways)) {
        lines.push(`  s${si} -->|${label(`${state.route.router}: ${pathway}`)}| s${stateIndex(plan, target)}`);
      }
    }
    for (const t of state.transitions) {
      lines.push(`  s${si} -->|${label(conditionText(state, t, 50))}| s${stateIndex(plan, t.target)}`);
    }
  });
  lines.push("");
  return lines.join("\n");
}

function stateIndex(plan: Plan, name: string): number {
  return plan.states.findIndex((s) => s.name === name);
}

/** A quoted mermaid label; `<br/>` is kept as a line break, other markup characters become entity codes. */
function label(text: string): string {
  const escaped = text
    .split("<br/>")
    .map((part) => part.replace(/[<>"|#&]/g, (c) => `#${c.charCodeAt(0)};`))
    .join("<br/>");
  return `"${escaped}"`;
}
