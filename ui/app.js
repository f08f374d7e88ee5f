// The web view's entry: a hash router over three pages (runs, a run, workers).
import { api } from "./api.js";
import { showRun } from "./run-page.js";
import { showRunList } from "./run-list.js";
import { showWorkers } from "./workers.js";

const main = document.getElementById("main");
const live = document.getElementById("live");
let stop = () => undefined;

function announce(text) {
  live.textContent = text;
}

async function route() {
  stop();
  stop = () => undefined;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = hash.split("?");
  const params = new URLSearchParams(query);
  for (const a of document.querySelectorAll("header nav a")) a.setAttribute("aria-current", a.getAttribute("href") === `#${path}` || (path.startsWith("/runs") && a.getAttribute("href") === "#/") ? "page" : "false");
  const run = /^\/runs\/([A-Za-z0-9_-]+)$/.exec(path);
  if (run) {
    document.title = `${run[1]} · phaseflow`;
    stop = await showRun(main, decodeURIComponent(run[1]), announce);
  } else if (path === "/workers") {
    document.title = "Workers · phaseflow";
    stop = showWorkers(main);
  } else {
    document.title = "Runs · phaseflow";
    stop = showRunList(main, params);
  }
  main.focus({ preventScroll: true });
}

window.addEventListener("hashchange", () => void route());
api.info().then(
  (info) => (document.getElementById("mode").textContent = info.mode === "embedded" ? "embedded run" : "fleet"),
  () => undefined,
);
void route();

// The skip link focuses the content without touching the route.
document.querySelector(".skip").addEventListener("click", (ev) => {
  ev.preventDefault();
  main.focus();
});
