// The run list: newest first, filtered by workflow and status (and to one run's child
// runs: `#/?parent=<runId>`, linked from the run page), paged by cursor (the
// server reads the runs' summaries, never their histories). Refreshed every few
// seconds while shown.
import { api } from "./api.js";
import { badge, duration, h, time } from "./dom.js";

const STATUSES = ["", "pending", "running", "succeeded", "failed", "cancelled"];
const REFRESH_MS = 5000;

/** Render the run list for the hash query `params`; returns a function that stops refreshing. */
export function showRunList(main, params) {
  const workflow = params.get("workflow") ?? "";
  const status = params.get("status") ?? "";
  const before = params.get("before") ?? "";
  const back = params.get("back") ?? "";
  const parent = params.get("parent") ?? "";
  let timer;
  let stopped = false;

  const hashFor = (p) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(p)) if (v) q.set(k, v);
    const text = q.toString();
    return `#/${text ? `?${text}` : ""}`;
  };

  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "filter runs" },
    h("label", {}, "Workflow ", h("input", { name: "workflow", value: workflow, placeholder: "any", autocomplete: "off" })),
    h("label", {}, "Status ", h("select", { name: "status" }, STATUSES.map((st) => h("option", { value: st, ...(st === status ? { selected: true } : {}) }, st || "any")))),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    location.hash = hashFor({ workflow: String(data.get("workflow") ?? "").trim(), status: String(data.get("status") ?? ""), parent });
  });
  const table = h("div", { id: "run-table" }, h("p", { class: "loading" }, "Loading runs…"));
  const title = parent
    ? [h("h1", {}, "Child runs of ", h("a", { href: `#/runs/${encodeURIComponent(parent)}`, id: "parent-run" }, parent)), h("p", {}, h("a", { href: "#/" }, "All runs"))]
    : [h("h1", {}, "Runs")];
  main.replaceChildren(...title, form, table);

  async function load() {
    if (stopped) return;
    let page;
    try {
      page = await api.runs({ ...(workflow ? { workflow } : {}), ...(status ? { status } : {}), ...(parent ? { parent } : {}), ...(before ? { before } : {}), limit: "25" });
    } catch (err) {
      table.replaceChildren(h("p", { class: "error", role: "alert" }, `Could not list the runs: ${err.code}: ${err.message}`));
      timer = setTimeout(load, REFRESH_MS);
      return;
    }
    if (stopped) return;
    const rows = page.runs.map((r) =>
      h(
        "tr",
        { "data-run": r.runId },
        h("td", {}, h("a", { href: `#/runs/${encodeURIComponent(r.runId)}` }, r.runId)),
        h("td", {}, r.version ? `${r.workflow}@${r.version}` : r.workflow),
        h("td", {}, badge(r.status), r.waiting ? h("div", { class: "waiting" }, r.waiting) : null),
        h("td", {}, r.currentState ?? "—"),
        h("td", { class: "num" }, `${r.tasks.succeeded} ✓ / ${r.tasks.failed} ✗ of ${r.tasks.total}`),
        h("td", {}, time(r.startedAt)),
        h("td", { class: "num" }, r.startedAt ? duration((r.finishedAt ?? Date.now()) - r.startedAt) : ""),
      ),
    );
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "pages" },
      before ? h("a", { href: back ? hashFor({ workflow, status, parent, before: back.split(",").pop(), back: back.split(",").slice(0, -1).join(",") }) : hashFor({ workflow, status, parent }) }, "← Newer") : null,
      page.next ? h("a", { href: hashFor({ workflow, status, parent, before: page.next, back: [back, before].filter(Boolean).join(",") }) }, "Older →") : null,
    );
    table.replaceChildren(
      rows.length
        ? h(
            "table",
            { class: "runs" },
            h("caption", { class: "sr-only" }, "Runs, newest first"),
            h("thead", {}, h("tr", {}, ["Run", "Workflow", "Status", "State", "Tasks", "Started", "Duration"].map((c) => h("th", { scope: "col" }, c)))),
            h("tbody", {}, rows),
          )
        : h("p", {}, workflow || status || parent ? "No run matches these filters." : "No runs yet. Start one with: phaseflow run <file> --nats URL"),
      pager,
    );
    timer = setTimeout(load, REFRESH_MS);
  }
  void load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
