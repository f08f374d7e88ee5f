// The run page: the run's header and actions (cancel, retry from a chosen task), its
// state machine, the DAG of the selected state visit, and the task panel with every
// attempt. It loads the record and plan once, then applies the pushes of the run's
// event stream (folded on the server by the engine's own record fold); no polling.
import { api } from "./api.js";
import { badge, duration, h, time } from "./dom.js";
import { drawDag, drawStateMachine, layoutDag, layoutStateMachine } from "./graph.js";

const keyOf = (state, visit, task) => `${state}/${visit}/${task}`;
/** Child runs linked one by one in the run's header; the rest are a link to the run list filtered by parent. */
const MAX_CHILD_LINKS = 20;
const runLink = (runId, id) => h("a", { href: `#/runs/${encodeURIComponent(runId)}`, ...(id ? { id } : {}) }, runId);

/** Render the page of run `runId` into `main`; returns a function that stops its stream. */
export async function showRun(main, runId, announce) {
  main.replaceChildren(h("p", { class: "loading" }, `Loading run ${runId}…`));
  let loaded;
  try {
    loaded = await api.run(runId);
  } catch (err) {
    main.replaceChildren(h("h1", {}, `Run ${runId}`), h("p", { class: "error", role: "alert" }, `${err.code}: ${err.message}`), h("p", {}, h("a", { href: "#/" }, "Back to the runs")));
    return () => undefined;
  }
  const plan = loaded.plan;
  const view = { run: loaded.record, tasks: new Map() };
  for (const t of loaded.record.tasks) view.tasks.set(keyOf(t.state, t.visit, t.task), { record: t, attempts: [] });
  const ui = { state: undefined, visit: undefined, task: undefined, pinned: false, open: new Set(), notice: "", stream: "connecting", fromChoice: "" };
  let machineLayout;
  const dagLayouts = new Map();
  let lastStatus = view.run.status;

  const planState = (name) => plan?.states.find((st) => st.name === name);
  const visitsOf = () => {
    const m = new Map();
    for (const st of view.run.states) m.set(st.name, Math.max(m.get(st.name) ?? 0, st.visit));
    return m;
  };
  const followCurrent = () => {
    if (ui.pinned) return;
    const last = view.run.states[view.run.states.length - 1];
    ui.state = last?.name ?? plan?.initialState;
    ui.visit = last?.visit ?? 1;
  };

  function taskOf(name) {
    const key = keyOf(ui.state, ui.visit, name);
    const entry = view.tasks.get(key);
    const visited = view.run.states.some((st) => st.name === ui.state && st.visit === ui.visit);
    const status = entry ? entry.record.status : visited ? "pending" : "not started";
    return { key, status, record: entry?.record, attempts: entry?.attempts ?? [], planTask: planState(ui.state)?.tasks.find((t) => t.name === name) };
  }

  function details(id, summary, body) {
    const d = h("details", { "data-open-key": id, ...(ui.open.has(id) ? { open: true } : {}) }, h("summary", {}, summary), body);
    d.addEventListener("toggle", () => (d.open ? ui.open.add(id) : ui.open.delete(id)));
    return d;
  }
  const jsonBlock = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));
  const errorBlock = (id, err) =>
    h("div", { class: "error-box", role: "note" }, h("strong", {}, err.code), `: ${err.message}`, err.stack ? details(`${id}:stack`, "stack", h("pre", { class: "stack" }, err.stack)) : null);

  async function act(what, fn) {
    ui.notice = `${what}…`;
    render();
    try {
      await fn();
      ui.notice = `${what}: done`;
    } catch (err) {
      ui.notice = `${what} failed: ${err.code ?? ""} ${err.message}`;
    }
    announce(ui.notice);
    render();
  }

  function header() {
    const r = view.run;
    const running = r.status === "running" || r.status === "pending";
    // Retry from any task the run has reached (its last visit of that state re-runs).
    const seen = new Set();
    const fromOptions = [];
    for (const t of r.tasks) {
      const v = `${t.state}/${t.task}`;
      if (seen.has(v)) continue;
      seen.add(v);
      fromOptions.push(h("option", { value: v, ...(ui.fromChoice === v ? { selected: true } : {}) }, `from ${v}${t.status === "failed" ? " (failed)" : ""}`));
    }
    const fromSelect = h("select", { id: "retry-from", "aria-label": "retry from" }, h("option", { value: "" }, "from the failed tasks"), fromOptions);
    fromSelect.addEventListener("change", () => (ui.fromChoice = fromSelect.value));
    return h(
      "section",
      { class: "run-head" },
      h("h1", {}, "Run ", h("code", {}, r.runId)),
      h(
        "dl",
        { class: "meta" },
        h("dt", {}, "Workflow"), h("dd", {}, `${r.workflow}${r.version ? ` v${r.version}` : ""}`, r.planHash ? h("span", { class: "plan-hash", title: r.planHash }, ` (plan ${r.planHash.slice(0, 12)})`) : null),
        // A run moved onto another version's plan (phaseflow upgrade): where it came from.
        r.upgrades?.length ? h("dt", {}, "Upgraded") : null,
        r.upgrades?.length ? h("dd", { id: "run-upgrades" }, r.upgrades.map((u) => `from v${u.from.version} to v${u.version} at ${time(u.at)}`).join("; ")) : null,
        h("dt", {}, "Status"), h("dd", {}, badge(r.status, { id: "run-status", "data-status": r.status }), (loaded.waiting ?? r.waitingFor) && (r.status === "running" || r.status === "pending") ? h("div", { class: "waiting", "data-run-waiting": "" }, loaded.waiting ?? r.waitingFor) : null),
        r.parent ? [h("dt", {}, "Parent run"), h("dd", {}, runLink(r.parent.runId, "parent-run"), ` (node ${r.parent.state}/${r.parent.task}, attempt ${r.parent.attempt})`)] : null,
        childRuns(),
        h("dt", {}, "Current state"), h("dd", {}, r.currentState ?? "—"),
        h("dt", {}, "Started"), h("dd", {}, time(r.startedAt)),
        h("dt", {}, "Duration"), h("dd", {}, r.startedAt ? duration((r.finishedAt ?? Date.now()) - r.startedAt) : ""),
        h("dt", {}, "Updates"), h("dd", { id: "stream-state" }, ui.stream),
      ),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", id: "cancel-run", disabled: !running, onclick: () => act("Cancel", () => api.cancel(r.runId)) }, "Cancel run"),
        fromSelect,
        h(
          "button",
          {
            type: "button",
            id: "retry-run",
            disabled: r.status !== "failed",
            onclick: () => {
              const v = ui.fromChoice;
              const from = v ? { state: v.slice(0, v.indexOf("/")), task: v.slice(v.indexOf("/") + 1) } : undefined;
              return act("Retry", () => api.retry(r.runId, from));
            },
          },
          "Retry run",
        ),
        h("span", { class: "notice", role: "status" }, ui.notice),
      ),
      r.error ? h("div", { class: "run-error" }, h("h2", {}, "Why it failed"), errorBlock("run", r.error)) : null,
      r.reason ? h("p", {}, `Cancelled: ${r.reason}`) : null,
      r.status === "succeeded" && r.output !== undefined ? details("run:output", "Output of the run", jsonBlock(r.output)) : null,
    );
  }

  /** The child runs the run's task records name (the newest attempt's of each node), the first few linked. */
  function childRuns() {
    const children = [...view.tasks.values()].map((e) => e.record).filter((t) => t.child);
    if (children.length === 0) return null;
    const shown = children.slice(0, MAX_CHILD_LINKS);
    const all = h("a", { href: `#/?parent=${encodeURIComponent(view.run.runId)}`, id: "child-runs-all" }, children.length > shown.length ? `all ${children.length}` : "list");
    return [
      h("dt", {}, "Child runs"),
      h("dd", {}, h("ul", { class: "child-runs", id: "child-runs" }, shown.map((t) => h("li", { "data-child": t.child }, h("code", {}, t.task), " ", runLink(t.child), " ", badge(t.status)))), all),
    ];
  }

  function machine() {
    if (!machineLayout || (!plan && machineLayout.nodes.size !== visitsOf().size)) machineLayout = layoutStateMachine(plan, view.run);
    const statusOf = (name) => {
      const visits = view.run.states.filter((st) => st.name === name);
      return visits.length ? visits[visits.length - 1].status : undefined;
    };
    const svg = drawStateMachine(machineLayout, {
      visits: visitsOf(),
      current: view.run.currentState,
      selected: ui.state,
      statusOf,
      onSelect: (name) => {
        ui.pinned = true;
        ui.state = name;
        ui.visit = visitsOf().get(name) ?? 1;
        ui.task = undefined;
        render(`[data-state="${CSS.escape(name)}"]`);
      },
    });
    const visitButtons = view.run.states.map((st) =>
      h(
        "button",
        {
          type: "button",
          class: `visit ${st.name === ui.state && st.visit === ui.visit ? "selected" : ""}`,
          "aria-pressed": st.name === ui.state && st.visit === ui.visit ? "true" : "false",
          "data-visit": `${st.name}/${st.visit}`,
          onclick: () => {
            ui.pinned = true;
            ui.state = st.name;
            ui.visit = st.visit;
            ui.task = undefined;
            render(`[data-visit="${CSS.escape(`${st.name}/${st.visit}`)}"]`);
          },
        },
        `${st.name} #${st.visit} · ${st.status}`,
      ),
    );
    return h(
      "section",
      { class: "machine" },
      h("h2", {}, "State machine"),
      h("div", { class: "scroll" }, svg),
      h("div", { class: "visits", role: "group", "aria-label": "state visits" }, h("span", {}, "Visits: "), visitButtons.length ? visitButtons : "none yet",
        ui.pinned ? h("button", { type: "button", class: "link", onclick: () => { ui.pinned = false; followCurrent(); render(); } }, "follow the current state") : null),
    );
  }

  function dag() {
    const ps = planState(ui.state);
    const recorded = [...view.tasks.values()].filter((e) => e.record.state === ui.state && e.record.visit === ui.visit).map((e) => e.record.task);
    let layout = dagLayouts.get(ui.state);
    if (!layout || !ps) {
      layout = layoutDag(ps, recorded);
      if (ps) dagLayouts.set(ui.state, layout);
    }
    const counts = {};
    for (const n of layout.nodes.keys()) {
      const st = taskOf(n).status;
      counts[st] = (counts[st] ?? 0) + 1;
    }
    const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
    return h(
      "section",
      { class: "dag" },
      h("h2", {}, `Tasks of ${ui.state ?? "—"}`, ui.visit ? ` (visit ${ui.visit})` : "", ps ? ` · ${ps.phases.length} phase${ps.phases.length === 1 ? "" : "s"}` : " · plan not served"),
      h("p", { class: "dag-summary", id: "dag-summary" }, summary || "no tasks"),
      h("div", { class: "scroll" }, layout.nodes.size ? drawDag(layout, { stateName: ui.state, taskOf, selectedTask: ui.task, onSelect: (key) => { ui.task = key; render(`[data-task="${CSS.escape(key)}"]`); document.getElementById("task-panel")?.scrollIntoView({ block: "nearest" }); } }) : h("p", {}, "This state has no tasks: its output is its input.")),
    );
  }

  function attemptItem(key, a) {
    const id = `${key}#${a.round}.${a.attempt}`;
    return h(
      "li",
      { class: "attempt", "data-attempt": a.attempt, "data-status": a.status },
      h("div", { class: "attempt-head" }, h("strong", {}, `Attempt ${a.attempt}`), a.round ? ` (retry ${a.round} of the run)` : "", " ", badge(a.status)),
      h(
        "dl",
        { class: "meta small" },
        h("dt", {}, "Worker"), h("dd", {}, a.workerId ?? "—"),
        h("dt", {}, "Queued"), h("dd", {}, time(a.dispatchedAt)),
        a.startedAt ? [h("dt", {}, "Started"), h("dd", {}, time(a.startedAt))] : null,
        h("dt", {}, "Duration"), h("dd", {}, a.durationMs !== undefined ? duration(a.durationMs) : a.startedAt ? `${duration(Date.now() - a.startedAt)} so far` : "—"),
        a.progress ? [h("dt", {}, "Progress"), h("dd", {}, a.progress.total !== undefined ? h("progress", { max: a.progress.total, value: a.progress.done, "aria-label": "progress" }) : null, ` ${a.progress.done}${a.progress.total !== undefined ? ` / ${a.progress.total}` : " done"}`)] : null,
      ),
      a.error ? errorBlock(id, a.error) : null,
      a.output !== undefined ? details(`${id}:output`, "Output", jsonBlock(a.output)) : null,
    );
  }

  function panel() {
    if (!ui.task) return h("aside", { id: "task-panel", class: "panel empty", "aria-label": "task" }, h("p", {}, "Select a task (click it, or Tab to it and press Enter) to see its attempts."));
    const name = ui.task.split("/").slice(2).join("/");
    const t = taskOf(name);
    const r = t.record;
    return h(
      "aside",
      { id: "task-panel", class: "panel", "aria-label": `task ${name}`, "data-panel-task": t.key },
      h("h2", {}, "Task ", h("code", {}, name), " ", badge(t.status)),
      h(
        "dl",
        { class: "meta" },
        h("dt", {}, "State"), h("dd", {}, `${ui.state} (visit ${ui.visit})`),
        h("dt", {}, "Executor"), h("dd", {}, r?.executor ?? t.planTask?.executor ?? "—"),
        h("dt", {}, "Attempts"), h("dd", {}, String(r?.attempts ?? 0)),
        r?.durationMs !== undefined ? [h("dt", {}, "Last duration"), h("dd", {}, duration(r.durationMs))] : null,
        r?.waitingFor ? [h("dt", {}, "Waiting"), h("dd", { class: "waiting", "data-task-waiting": "" }, r.waitingFor)] : null,
        r?.dueAt ? [h("dt", {}, "Next attempt"), h("dd", {}, time(r.dueAt))] : null,
        r?.child ? [h("dt", {}, "Child run"), h("dd", {}, runLink(r.child, "task-child-run"))] : null,
        r?.reason ? [h("dt", {}, "Reason"), h("dd", {}, r.reason)] : null,
        t.planTask?.description ? [h("dt", {}, "About"), h("dd", {}, t.planTask.description)] : null,
      ),
      view.run.status === "failed" && r
        ? h("button", { type: "button", id: "retry-from-task", onclick: () => act(`Retry from ${name}`, () => api.retry(view.run.runId, { state: ui.state, task: name })) }, `Retry the run from ${name}`)
        : null,
      r?.error && t.attempts.length === 0 ? errorBlock(t.key, r.error) : null,
      h("h3", {}, "Attempts"),
      t.attempts.length ? h("ol", { class: "attempts" }, [...t.attempts].reverse().map((a) => attemptItem(t.key, a))) : h("p", {}, r ? "No attempt recorded." : "Not started."),
      r?.output !== undefined && !t.attempts.some((a) => a.output !== undefined) ? details(`${t.key}:output`, "Output", jsonBlock(r.output)) : null,
    );
  }

  function render(focusSelector) {
    const active = focusSelector ?? (document.activeElement && main.contains(document.activeElement) ? selectorOf(document.activeElement) : undefined);
    main.replaceChildren(header(), h("div", { class: "run-body" }, h("div", { class: "pictures" }, machine(), dag()), panel()));
    if (active) main.querySelector(active)?.focus();
  }

  followCurrent();
  render();
  const stop = api.follow(
    runId,
    (patch) => {
      view.run = { ...patch.run, tasks: [] };
      if (patch.full) view.tasks.clear();
      for (const [key, entry] of Object.entries(patch.tasks)) view.tasks.set(key, entry);
      view.run.tasks = [...view.tasks.values()].map((e) => e.record);
      if (view.run.status !== lastStatus) {
        announce(`Run ${view.run.runId} is ${view.run.status}`);
        lastStatus = view.run.status;
      }
      followCurrent();
      render();
    },
    (state, message) => {
      ui.stream = state === "live" ? "live" : state === "failed" ? `stopped: ${message}` : state;
      const el = document.getElementById("stream-state");
      if (el) el.textContent = ui.stream;
    },
  );
  return stop;
}

/** A selector that finds an element again after a re-render. */
function selectorOf(el) {
  for (const attr of ["data-task", "data-state", "data-visit", "id"]) {
    const v = el.getAttribute(attr);
    if (v) return `[${attr}="${CSS.escape(v)}"]`;
  }
  return undefined;
}
