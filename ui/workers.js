// The live workers, from their heartbeats (what `phaseflow workers` prints), refreshed
// every few seconds while shown.
import { api } from "./api.js";
import { duration, h, time } from "./dom.js";

const REFRESH_MS = 3000;

/** Render the workers page; returns a function that stops refreshing. */
export function showWorkers(main) {
  let timer;
  let stopped = false;
  const body = h("div", { id: "worker-table" }, h("p", { class: "loading" }, "Loading workers…"));
  main.replaceChildren(h("h1", {}, "Workers"), body);
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
    timer = setTimeout(load, REFRESH_MS);
  }
  void load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
