// The page's calls to its server: the same operations the CLI has (list, get, cancel,
// retry, workers), and the run's live event stream. The auth token, when the server
// has one, travels in its cookie.

async function request(path, init = {}) {
  const res = await fetch(path, { credentials: "same-origin", ...init });
  let body = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  if (!res.ok) {
    const err = new Error(body.error ? body.error.message : `the server answered ${res.status}`);
    err.code = body.error ? body.error.code : `HTTP_${res.status}`;
    err.status = res.status;
    throw err;
  }
  return body;
}

function post(path, body) {
  return request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
}

export const api = {
  info: () => request("/api/info"),
  runs: (params) => request(`/api/runs?${new URLSearchParams(params)}`),
  run: (runId) => request(`/api/runs/${encodeURIComponent(runId)}`),
  cancel: (runId, reason) => post(`/api/runs/${encodeURIComponent(runId)}/cancel`, reason ? { reason } : {}),
  retry: (runId, from) => post(`/api/runs/${encodeURIComponent(runId)}/retry`, from ? { from } : {}),
  workers: () => request("/api/workers"),
  queues: () => request("/api/queues"),
  /** Follow a run: `onPatch` gets each push; returns a function that stops. */
  follow(runId, onPatch, onState) {
    const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
    source.addEventListener("patch", (e) => onPatch(JSON.parse(e.data)));
    source.addEventListener("failure", (e) => onState("failed", JSON.parse(e.data).message));
    source.addEventListener("open", () => onState("live"));
    source.addEventListener("error", () => onState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting"));
    return () => source.close();
  },
};
