// Layout and drawing of the two pictures of a run page: the workflow's state machine
// and the DAG of one state visit. dagre (vendored from its package, served at
// /vendor/dagre.js) places the nodes and routes the edges; this module only draws
// the result as SVG. Every node is a keyboard-focusable button with a text label.
import dagre from "/vendor/dagre.js";
import { s, STATUS_TEXT } from "./dom.js";

const TASK_W = 176;
const TASK_H = 62;
const STATE_W = 150;
const STATE_H = 54;

function run(g) {
  dagre.layout(g);
  const nodes = new Map();
  for (const id of g.nodes()) {
    const n = g.node(id);
    if (!n.hidden) nodes.set(id, { id, x: n.x, y: n.y, w: n.width, h: n.height });
  }
  const edges = [];
  for (const e of g.edges()) {
    const label = g.edge(e);
    if (label.hidden) continue;
    edges.push({ from: e.v, to: e.w, points: label.points, label: label.label, lx: label.x, ly: label.y });
  }
  let maxX = 0;
  let maxY = 0;
  let minX = Infinity;
  for (const n of nodes.values()) {
    minX = Math.min(minX, n.x - n.w / 2);
    maxX = Math.max(maxX, n.x + n.w / 2);
    maxY = Math.max(maxY, n.y + n.h / 2);
  }
  for (const e of edges) for (const p of e.points) maxX = Math.max(maxX, p.x);
  return { nodes, edges, minX: Number.isFinite(minX) ? minX : 0, width: maxX + 20, height: maxY + 20 };
}

/**
 * The state machine: states and their transitions (guards as edge labels) and router pathways.
 * `plan` may be null (no coordinator serves it): then only the visited states and their order.
 */
export function layoutStateMachine(plan, record) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 70, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = plan ? plan.states.map((st) => st.name) : [...new Set(record.states.map((st) => st.name))];
  for (const name of names) g.setNode(name, { width: STATE_W, height: STATE_H });
  if (plan) {
    for (const st of plan.states) {
      for (const t of st.transitions) {
        const label = t.description ?? (t.guard === null ? "otherwise" : "when …");
        g.setEdge(st.name, t.target, { label, width: Math.min(160, label.length * 6.5), height: 14, labelpos: "c" }, `t${t.index}`);
      }
      if (st.route) {
        for (const [pathway, target] of Object.entries(st.route.pathways)) {
          g.setEdge(st.name, target, { label: `route: ${pathway}`, width: Math.min(160, (pathway.length + 7) * 6.5), height: 14, labelpos: "c" }, `r:${pathway}`);
        }
      }
    }
  } else {
    for (let i = 1; i < record.states.length; i++) g.setEdge(record.states[i - 1].name, record.states[i].name, { label: "" }, `v${i}`);
  }
  return run(g);
}

/**
 * One state's DAG, in columns by phase: each task's rank is its phase (edge lengths
 * are the phase differences and a hidden anchor pulls every task to its phase).
 */
export function layoutDag(planState, taskNames) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 56, marginx: 10, marginy: 10, ranker: "network-simplex" });
  g.setDefaultEdgeLabel(() => ({}));
  if (!planState) {
    // No plan: the recorded tasks, in one column.
    for (const name of taskNames) g.setNode(name, { width: TASK_W, height: TASK_H });
    return { ...run(g), phases: [] };
  }
  const phaseOf = new Map(planState.tasks.map((t) => [t.name, t.phase]));
  g.setNode("__anchor", { width: 0, height: 0, hidden: true });
  for (const t of planState.tasks) {
    g.setNode(t.name, { width: TASK_W, height: TASK_H });
    g.setEdge("__anchor", t.name, { minlen: t.phase + 1, weight: 1, hidden: true });
  }
  for (const [from, to] of planState.edges) g.setEdge(from, to, { minlen: Math.max(1, phaseOf.get(to) - phaseOf.get(from)), weight: 2 });
  const laid = run(g);
  const phases = planState.phases.map((names, i) => {
    const xs = names.map((n) => laid.nodes.get(n)?.x).filter((x) => x !== undefined);
    return { index: i, x: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0, count: names.length };
  });
  return { ...laid, phases };
}

function path(points) {
  return points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
}

function svgRoot(layout, label, markerId, extraTop = 0) {
  const x0 = Math.max(0, layout.minX - 10);
  const width = Math.max(200, layout.width - x0);
  const height = layout.height + extraTop;
  return s(
    "svg",
    { class: "graph", role: "group", "aria-label": label, viewBox: `${x0} ${-extraTop} ${width} ${height}`, width, height },
    s("defs", {}, s("marker", { id: markerId, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))),
  );
}

function edgesOf(layout, svg, markerId, classOf) {
  for (const e of layout.edges) {
    svg.append(s("path", { d: path(e.points), class: `edge ${classOf ? classOf(e) : ""}`, "marker-end": `url(#${markerId})` }));
    if (e.label) svg.append(s("text", { x: e.lx, y: e.ly + 4, class: "edge-label", "text-anchor": "middle" }, e.label));
  }
}

function keyActivate(el, fn) {
  el.addEventListener("click", fn);
  el.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      fn();
    }
  });
}

/**
 * Draw the state machine. `visits` maps a state to how often it was entered; `current`
 * is the run's current state; `selected` the state whose DAG is shown.
 */
export function drawStateMachine(layout, { visits, current, selected, statusOf, onSelect }) {
  const svg = svgRoot(layout, "state machine", "arrow-machine");
  edgesOf(layout, svg, "arrow-machine", (e) => (visits.has(e.from) && visits.has(e.to) ? "taken" : ""));
  for (const n of layout.nodes.values()) {
    const count = visits.get(n.id) ?? 0;
    const status = statusOf(n.id);
    const words = [n.id === current ? "current state" : "", count ? `visited ${count}×` : "not visited", status ?? ""].filter(Boolean).join(", ");
    const g = s(
      "g",
      {
        class: `node state ${status ? `status-${status}` : "unvisited"} ${n.id === current ? "current" : ""} ${n.id === selected ? "selected" : ""}`,
        transform: `translate(${n.x - n.w / 2},${n.y - n.h / 2})`,
        tabindex: 0,
        role: "button",
        "data-state": n.id,
        "aria-pressed": n.id === selected ? "true" : "false",
        "aria-label": `state ${n.id}: ${words}`,
      },
      s("rect", { width: n.w, height: n.h, rx: 10 }),
      s("text", { x: n.w / 2, y: 22, "text-anchor": "middle", class: "title" }, n.id),
      s("text", { x: n.w / 2, y: 41, "text-anchor": "middle", class: "sub" }, `${n.id === current ? "▶ current · " : ""}${count ? `${count} visit${count === 1 ? "" : "s"}` : "not visited"}`),
    );
    keyActivate(g, () => onSelect(n.id));
    svg.append(g);
  }
  return svg;
}

/**
 * A hook for node kinds that show more than one task (issue 11's map nodes: their
 * instance counts). Return extra text for the node's second line, or undefined.
 * @param {object} planTask the plan's task (its `kind` and the like, once maps exist)
 * @param {object|undefined} record the task's record in this visit
 */
export function taskNodeExtra(planTask, record) {
  // A map node: how its instances stand ("37/60 done, 1 failed, 16 running").
  const inst = record?.instances;
  if (inst) {
    const parts = [`${inst.succeeded}/${inst.count} done`];
    if (inst.failed) parts.push(`${inst.failed} failed`);
    if (inst.running) parts.push(`${inst.running} running`);
    if (inst.cancelled) parts.push(`${inst.cancelled} cancelled`);
    return parts.join(", ");
  }
  if (planTask?.map && record === undefined) return "map";
  if (record?.progress && record.status === "running") return `${record.progress.done}${record.progress.total !== undefined ? `/${record.progress.total}` : ""}`;
  return undefined;
}

/** Draw a state visit's DAG; `taskOf(name)` gives each task's record (or undefined) and its shown status. */
export function drawDag(layout, { stateName, taskOf, selectedTask, onSelect }) {
  const label = `tasks of state ${stateName}`;
  const svg = svgRoot(layout, label, "arrow-dag", layout.phases.length ? 22 : 0);
  for (const ph of layout.phases) svg.append(s("text", { x: ph.x, y: -6, "text-anchor": "middle", class: "phase-label" }, `phase ${ph.index + 1}`));
  edgesOf(layout, svg, "arrow-dag");
  for (const n of layout.nodes.values()) {
    const { key, status, record, planTask } = taskOf(n.id);
    // Progress while running ("12/40"); map nodes will add their instance counts through the hook.
    const extra = taskNodeExtra(planTask, record);
    const attempts = record && record.attempts > 1 ? ` · ${record.attempts} attempts` : "";
    const g = s(
      "g",
      {
        class: `node task status-${status.replace(" ", "-")} ${key === selectedTask ? "selected" : ""}`,
        transform: `translate(${n.x - n.w / 2},${n.y - n.h / 2})`,
        tabindex: 0,
        role: "button",
        "data-task": key,
        "data-status": status,
        "aria-label": `task ${n.id}: ${status}${attempts}${extra ? `, ${extra}` : ""}`,
      },
      s("rect", { width: n.w, height: n.h, rx: 6 }),
      s("text", { x: 10, y: 22, class: "title" }, n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id),
      s("text", { x: 10, y: 44, class: "sub" }, `${STATUS_TEXT[status] ?? status}${extra ? ` ${extra}` : ""}${attempts}`),
    );
    keyActivate(g, () => onSelect(key));
    svg.append(g);
  }
  return svg;
}
