// Small DOM helpers: build elements from tag, attributes and children (no framework).
const SVG_NS = "http://www.w3.org/2000/svg";

function apply(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An HTML element. */
export function h(tag, attrs, ...children) {
  return apply(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return apply(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Milliseconds as "850 ms", "12.3 s", "4m 05s". */
export function duration(ms) {
  if (ms === undefined || ms === null || !Number.isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m ${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}s`;
}

/** Epoch ms as local date and time. */
export function time(ms) {
  return ms === undefined || ms === null ? "" : new Date(ms).toLocaleString();
}

/** A status as text with a symbol, so it never depends on colour alone. */
export const STATUS_TEXT = {
  pending: "◌ pending",
  dispatched: "◔ queued",
  running: "◑ running",
  retrying: "↻ retrying",
  succeeded: "✓ succeeded",
  failed: "✗ failed",
  skipped: "⤼ skipped",
  cancelled: "⊘ cancelled",
  "not started": "· not started",
};

/** A status badge: symbol and word, coloured by class. */
export function badge(status, attrs = {}) {
  return h("span", { class: `badge status-${status.replace(" ", "-")}`, ...attrs }, STATUS_TEXT[status] ?? status);
}
