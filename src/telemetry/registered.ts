/**
 * Whether an OpenTelemetry SDK registered anything, answered without loading
 * `@opentelemetry/api` (about fifty modules): registering a tracer, meter or context
 * provider stores it on the API's global, `Symbol.for("opentelemetry.js.api.<major>")`,
 * which every copy of the API shares, under `trace`, `metrics`, `context`... The CLI asks this before it flushes, so a command
 * run without an SDK (most are) never loads the API just to find nothing to flush.
 */

/** The prefix of the API's global key; the major version follows it. */
const GLOBAL_KEY_PREFIX = "opentelemetry.js.api.";

/**
 * True while a tracer or meter provider is registered through any copy of
 * `@opentelemetry/api` (what `flushTelemetry` would flush; `disable()` removes them again).
 * @example if (telemetryRegistered()) await (await import("./otel.js")).flushTelemetry();
 */
export function telemetryRegistered(): boolean {
  const global = globalThis as unknown as Record<symbol, { trace?: unknown; metrics?: unknown } | undefined>;
  return Object.getOwnPropertySymbols(globalThis).some((s) => {
    if (s.description?.startsWith(GLOBAL_KEY_PREFIX) !== true) return false;
    const api = global[s];
    return api?.trace !== undefined || api?.metrics !== undefined;
  });
}
