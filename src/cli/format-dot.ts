/**
 * `phaseflow compile --dot`: the plan as a graphviz digraph. Each state is a
 * `cluster_` subgraph of its task DAG; a transition is drawn from one of the
 * state's sink tasks to a root task of the target, clipped to the cluster borders
 * (`compound=true` with `ltail`/`lhead`) so it reads as state-to-state.
 * Render with `phaseflow compile wf.ts --dot | dot -Tsvg > wf.svg`.
 */
import { waitNodeLabel } from "./format-wait.js";
import type { Plan, PlanState } from "../plan/schema.js";
import { conditionText } from "./format-text.js";

/**
 * Render a plan as a graphviz digraph.
 * @example process.stdout.write(formatPlanDot(compile(etl)));
 * // digraph "etl" { compound=true; ...
 */
export function formatPlanDot(plan: Plan): string {
  const lines = [
    `digraph ${quote(plan.workflow)} {`,
    "  compound=true;",
    "  rankdir=TB;",
    `  node [shape=box, style=rounded, fontname="Helvetica"];`,
    `  edge [fontname="Helvetica", fontsize=10];`,
    `  "__start" [shape=circle, label="", width=0.2, style=filled, fillcolor=black];`,
  ];
  for (const state of plan.states) {
    const marks = [state.initial ? "initial" : "", state.final ? "final" : ""].filter(Boolean);
    lines.push(`  subgraph ${quote(`cluster_${state.name}`)} {`);
    lines.push(`    label=${quote(`${state.name}${marks.length > 0 ? ` (${marks.join(", ")})` : ""}`)};`);
    if (state.final) lines.push("    penwidth=2;");
    if (state.tasks.length === 0) lines.push(`    ${node(state, placeholder)} [label="no tasks", shape=plaintext];`);
    for (const t of state.tasks) {
      // A map node is one stacked node (box3d): its instances exist only at run time.
      // Signal nodes are hexagons, sleep nodes dashed ellipses: they wait, they run nothing.
      if (t.map) lines.push(`    ${node(state, t.name)} [label=${quote(`${t.name}[]\n${t.executor}\nmap, max ${t.map.maxConcurrency} in flight`)}, shape=box3d, style=""];`);
      else {
        const shape = t.wait?.kind === "signal" ? ", shape=hexagon" : t.wait?.kind === "sleep" ? ", shape=ellipse, style=dashed" : "";
        lines.push(`    ${node(state, t.name)} [label=${quote(`${t.name}\n${waitNodeLabel(t) ?? t.executor}`)}${shape}];`);
      }
    }
    for (const [from, to] of state.edges) lines.push(`    ${node(state, from)} -> ${node(state, to)};`);
    lines.push("  }");
  }
  const initial = plan.states.find((s) => s.name === plan.initialState);
  if (initial) lines.push(`  "__start" -> ${node(initial, entry(initial))} [lhead=${quote(`cluster_${initial.name}`)}];`);
  for (const state of plan.states) {
    const edges: { target: string; text: string }[] = [
      ...Object.entries(state.route?.pathways ?? {}).map(([p, target]) => ({ target, text: `${state.route?.router ?? ""}: ${p}` })),
      ...state.transitions.map((t) => ({ target: t.target, text: conditionText(state, t, 50) })),
    ];
    for (const e of edges) {
      const target = plan.states.find((s) => s.name === e.target);
      if (!target) continue;
      const attrs = [`label=${quote(e.text)}`];
      // A loop back into the same cluster cannot be clipped to its own border.
      if (target !== state) attrs.push(`ltail=${quote(`cluster_${state.name}`)}`, `lhead=${quote(`cluster_${target.name}`)}`);
      else attrs.push("constraint=false");
      lines.push(`  ${node(state, exit(state))} -> ${node(target, entry(target))} [${attrs.join(", ")}];`);
    }
  }
  lines.push("}", "");
  return lines.join("\n");
}

const placeholder = "__empty";

function node(state: PlanState, task: string): string {
  return quote(`${state.name}/${task}`);
}

function entry(state: PlanState): string {
  return state.phases[0]?.[0] ?? placeholder;
}

function exit(state: PlanState): string {
  return state.sinks[0] ?? placeholder;
}

/** A DOT double-quoted string; a newline becomes DOT's `\n` line break. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}
