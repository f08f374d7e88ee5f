// The live workers, from their heartbeats (what `phaseflow workers` prints), and on a fleet
// the task limits per key (what `phaseflow queues` prints), refreshed every few seconds while shown.
import { api } from "./api.js";
import { duration, h, time } from "./dom.js";

const REFRESH_MS = 3000;

/** Render the workers page; returns a function that stops refreshing. */
export function showWorkers(main) {
  let timer;
  let stopped = false;
  const body = h("div", { id: "worker-table" }, h("p", { class: "loading" }, "Loading workers…"));
  const limits = h("section", { id: "queue-table", hidden: true });
  main.replaceChildren(h("h1", {}, "Workers"), body, limits);
  async function load() {
    if (stopped) return;
    try {
      const { workers, now } = await api.workers();
      if (stopped) return;
      body.replaceChildren(
        workers.length
          ? h(
              "table",
              { class: "workers" },
              h("caption", { class: "sr-only" }, "Live workers"),
              h("thead", {}, h("tr", {}, ["Worker", "Host", "Namespaces", "Executors", "Concurrency", "In flight", "Done / failed", "Up since", "Last heartbeat"].map((c) => h("th", { scope: "col" }, c)))),
              h(
                "tbody",
                {},
                workers.map((w) =>
                  h(
                    "tr",
                    { "data-worker": w.workerId },
                    h("td", {}, h("code", {}, w.workerId)),
                    h("td", {}, `${w.host} (pid ${w.pid})`),
                    h("td", {}, w.namespaces.join(", ")),
                    h("td", {}, w.executors.join(", ")),
                    h("td", { class: "num" }, String(w.concurrency)),
                    h("td", { class: "num" }, String(w.inFlight)),
                    h("td", { class: "num" }, `${w.completed} / ${w.failed}`),
                    h("td", {}, time(w.startedAt)),
                    h("td", {}, `${duration(Math.max(0, now - w.at))} ago`),
                  ),
                ),
              ),
            )
          : h("p", {}, "No live workers. Start one with: phaseflow worker --nats URL <executor modules>"),
      );
    } catch (err) {
      body.replaceChildren(h("p", { class: "error", role: "alert" }, `Could not read the workers: ${err.code}: ${err.message}`));
    }
    await loadQueues(limits);
    timer = setTimeout(load, REFRESH_MS);
  }
  void load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Fill `section` with the fleet's task limits per key; hidden when the server has none to show (embedded). */
async function loadQueues(section) {
  try {
    const { rows, unanswered } = await api.queues();
    const per = (ms) => (ms % 60000 === 0 ? `${ms / 60000}m` : ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`);
    section.hidden = false;
    section.replaceChildren(
      h("h2", {}, "Task limits"),
      rows.length
        ? h(
            "table",
            { class: "workers" },
            h("caption", { class: "sr-only" }, "Task limits per key"),
            h("thead", {}, h("tr", {}, ["Limit", "Key", "Running", "Waiting", "Rate"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  { "data-limit": `${r.scope}[${r.key}]` },
                  h("td", {}, h("code", {}, r.scope)),
                  h("td", {}, r.key === "" ? "-" : r.key),
                  h("td", { class: "num" }, r.concurrency ? `${r.concurrency.running} / ${r.concurrency.limit}` : "-"),
                  h("td", { class: "num" }, String(r.waiting)),
                  h("td", {}, r.rate ? `${r.rate.started} / ${r.rate.limit} per ${per(r.rate.periodMs)}` : "-"),
                ),
              ),
            ),
          )
        : h("p", {}, "No task limits in use."),
      unanswered.length ? h("p", {}, `Coordinators that did not answer (their waiting attempts are not counted): ${unanswered.join(", ")}`) : false,
    );
  } catch (err) {
    if (err.status === 404) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    section.replaceChildren(h("h2", {}, "Task limits"), h("p", { class: "error", role: "alert" }, `Could not read the task limits: ${err.code}: ${err.message}`));
  }
}
