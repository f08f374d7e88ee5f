/**
 * phaseflow's OpenTelemetry vocabulary, through `@opentelemetry/api` only: the tracer
 * and meter names, span and attribute names, the metric instruments, and the W3C
 * `traceparent` a task message carries from the coordinator's task span to the
 * worker's attempt span.
 *
 * The API is a no-op until the application registers an SDK, and phaseflow keeps it
 * nearly free then: a run or an attempt asks once whether its span is real
 * (`isSpanContextValid`) and whether a meter provider is registered, and does nothing
 * more per task when neither is.
 *
 * The trace context is written and read here as W3C Trace Context (`traceparent`,
 * `tracestate`), not through the global propagator: phaseflow is both the producer
 * and the consumer of its task messages, so the link holds whichever propagator (or
 * none) the application registered.
 */
import { createRequire } from "node:module";
import type * as OtelApi from "@opentelemetry/api";
import type { Context, Counter, Histogram, MeterProvider, SpanContext, Tracer, UpDownCounter } from "@opentelemetry/api";

let loadedApi: typeof OtelApi | undefined;

/**
 * `@opentelemetry/api`, required on first use rather than imported: it is some fifty
 * modules, and importing phaseflow (as every workflow module does, and so `phaseflow
 * compile`) must not load them before a run or a worker needs them. The API is
 * CommonJS for Node, so `require` gets the very instance an `import` would.
 * @example const { SpanKind } = otelApi();
 */
export function otelApi(): typeof OtelApi {
  return (loadedApi ??= createRequire(import.meta.url)("@opentelemetry/api") as typeof OtelApi);
}

/** The instrumentation scope of every span and metric phaseflow makes. */
export const INSTRUMENTATION_NAME = "phaseflow";
export const INSTRUMENTATION_VERSION = "0.1.0";

/** Span attributes (and, for workflow/executor/status, metric attributes). */
export const ATTR = {
  workflow: "phaseflow.workflow",
  runId: "phaseflow.run.id",
  /** Which go of the run: 0, +1 per retry. */
  round: "phaseflow.run.round",
  /** Set on the spans of a coordinator that picked a run up from its history (takeover, restart, retry). */
  resumed: "phaseflow.run.resumed",
  coordinator: "phaseflow.coordinator.id",
  epoch: "phaseflow.coordinator.epoch",
  state: "phaseflow.state",
  visit: "phaseflow.state.visit",
  next: "phaseflow.state.next",
  taskId: "phaseflow.task.id",
  attempt: "phaseflow.attempt",
  attempts: "phaseflow.task.attempts",
  dispatchId: "phaseflow.dispatch.id",
  executor: "phaseflow.executor",
  workerId: "phaseflow.worker.id",
  deliveryCount: "phaseflow.delivery.count",
  status: "phaseflow.status",
  errorCode: "phaseflow.error.code",
  /** The OpenTelemetry semantic convention for an operation's error class. */
  errorType: "error.type",
} as const;

/** Metric names (OpenTelemetry naming: dotted, durations in seconds). */
export const METRIC = {
  dispatched: "phaseflow.tasks.dispatched",
  succeeded: "phaseflow.tasks.succeeded",
  failed: "phaseflow.tasks.failed",
  retried: "phaseflow.tasks.retried",
  attemptDuration: "phaseflow.attempt.duration",
  queueWait: "phaseflow.attempt.queue_wait",
  runsActive: "phaseflow.runs.active",
  limitInUse: "phaseflow.limits.in_use",
  limitWaiting: "phaseflow.limits.waiting",
} as const;

/** One task limit's use, as a coordinator's limit gate sees it (README "Traffic control"). */
export interface LimitGaugeSource {
  (): Iterable<{ name: string; kind: string; used: number; waiting: number }>;
}

/** The coordinators' limit gates whose use the limit gauges report. */
const limitSources = new Set<LimitGaugeSource>();

/** Report a gate's limits on the gauges `phaseflow.limits.in_use` and `phaseflow.limits.waiting`; returns the way to stop. */
export function observeLimits(source: LimitGaugeSource): () => void {
  limitSources.add(source);
  return () => limitSources.delete(source);
}

/** The tracer (a proxy: it follows whatever provider is registered, even later). */
export function phaseflowTracer(): Tracer {
  return otelApi().trace.getTracer(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
}

let noopTracerProvider: unknown;

/**
 * Whether a tracer provider is registered: false means every span would be a no-op,
 * so callers skip making spans and attributes at all.
 */
export function tracingEnabled(): boolean {
  noopTracerProvider ??= new (otelApi().ProxyTracerProvider)().getDelegate();
  return registeredTracerProvider() !== noopTracerProvider;
}

/**
 * The tracer provider behind the API's proxy. Duck-typed, not `instanceof`: the SDK may
 * have registered itself through another copy of `@opentelemetry/api` (the globals are
 * shared between compatible copies, their classes are not).
 */
function registeredTracerProvider(): unknown {
  const provider = otelApi().trace.getTracerProvider() as { getDelegate?: () => unknown };
  return typeof provider.getDelegate === "function" ? provider.getDelegate() : provider;
}

export interface Instruments {
  dispatched: Counter;
  succeeded: Counter;
  failed: Counter;
  retried: Counter;
  attemptDuration: Histogram;
  queueWait: Histogram;
  runsActive: UpDownCounter;
}

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

let cachedProvider: MeterProvider | undefined;
let cachedInstruments: Instruments | undefined;
/** The API's no-op meter class: what `getMeter` returns while no meter provider is registered. */
let NoopMeter: unknown;

/** Whether a meter provider is registered (the API's own no-op answers with a NoopMeter). */
function meteringEnabled(provider: MeterProvider): boolean {
  NoopMeter ??= otelApi().createNoopMeter().constructor;
  return !(provider.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION) instanceof (NoopMeter as new () => unknown));
}

/**
 * The metric instruments, or undefined while no meter provider is registered (so a
 * caller builds no attributes). Made again when the global provider changes.
 */
export function phaseflowInstruments(): Instruments | undefined {
  const provider = otelApi().metrics.getMeterProvider();
  if (provider === cachedProvider) return cachedInstruments;
  cachedProvider = provider;
  cachedInstruments = undefined;
  if (!meteringEnabled(provider)) return undefined;
  const meter = provider.getMeter(INSTRUMENTATION_NAME, INSTRUMENTATION_VERSION);
  cachedInstruments = {
    dispatched: meter.createCounter(METRIC.dispatched, { description: "Task attempts dispatched by coordinators", unit: "{attempt}" }),
    succeeded: meter.createCounter(METRIC.succeeded, { description: "Tasks that succeeded", unit: "{task}" }),
    failed: meter.createCounter(METRIC.failed, { description: "Tasks that failed after their last attempt", unit: "{task}" }),
    retried: meter.createCounter(METRIC.retried, { description: "Task attempts that failed and will be retried", unit: "{attempt}" }),
    attemptDuration: meter.createHistogram(METRIC.attemptDuration, { description: "How long an executor ran, on the worker", unit: "s", advice: { explicitBucketBoundaries: SECONDS_BUCKETS } }),
    queueWait: meter.createHistogram(METRIC.queueWait, { description: "From dispatch to the worker starting the attempt", unit: "s", advice: { explicitBucketBoundaries: SECONDS_BUCKETS } }),
    runsActive: meter.createUpDownCounter(METRIC.runsActive, { description: "Runs driven by this coordinator now", unit: "{run}" }),
  };
  const inUse = meter.createObservableGauge(METRIC.limitInUse, { description: "Task limit use: attempts holding a concurrency limit, or starts in a rate limit's window", unit: "{attempt}" });
  const waiting = meter.createObservableGauge(METRIC.limitWaiting, { description: "Attempts of this coordinator waiting for a task limit", unit: "{attempt}" });
  inUse.addCallback((result) => {
    for (const source of limitSources) for (const l of source()) result.observe(l.used, { "phaseflow.limit": l.name, "phaseflow.limit.kind": l.kind });
  });
  waiting.addCallback((result) => {
    for (const source of limitSources) for (const l of source()) result.observe(l.waiting, { "phaseflow.limit": l.name, "phaseflow.limit.kind": l.kind });
  });
  return cachedInstruments;
}

/** The trace context a task message carries (W3C Trace Context header values). */
export interface TraceCarrier {
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

/** Longest `tracestate` kept (the W3C limit is 32 members; 512 bytes is what propagators must keep). */
export const MAX_TRACESTATE = 512;

const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, "0");

/** Write `sc` into `carrier` as W3C `traceparent` (and `tracestate`); nothing for an invalid context. */
export function injectTraceContext(sc: SpanContext, carrier: TraceCarrier): void {
  if (!otelApi().isSpanContextValid(sc)) return;
  carrier.traceparent = `00-${sc.traceId}-${sc.spanId}-${hex2(sc.traceFlags)}`;
  const state = sc.traceState?.serialize();
  if (state !== undefined && state.length > 0 && state.length <= MAX_TRACESTATE) carrier.tracestate = state;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The remote span context in a W3C `traceparent` (and `tracestate`), or undefined when it is absent or malformed. */
export function parseTraceparent(traceparent: string | undefined, tracestate?: string): SpanContext | undefined {
  if (traceparent === undefined) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  // Version ff is forbidden; version 00 has nothing after the flags.
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  const { isValidSpanId, isValidTraceId, createTraceState } = otelApi();
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined;
  const sc: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16) & 1, isRemote: true };
  if (tracestate !== undefined && tracestate.length > 0 && tracestate.length <= MAX_TRACESTATE) sc.traceState = createTraceState(tracestate);
  return sc;
}

/** A context whose parent span is the one in `carrier`, or `fallback` when it carries none. */
export function contextFrom(carrier: TraceCarrier, fallback?: Context): Context {
  const sc = parseTraceparent(carrier.traceparent, carrier.tracestate);
  const { ROOT_CONTEXT, trace } = otelApi();
  return sc ? trace.setSpanContext(ROOT_CONTEXT, sc) : (fallback ?? ROOT_CONTEXT);
}

/** Most time `flushTelemetry` waits for the SDK's exporters. */
export const FLUSH_TIMEOUT_MS = 2_000;

/**
 * Ask the registered SDK (if any) to export what it still buffers, within `timeoutMs`:
 * the CLI calls it before it exits, so a command's last spans and metrics are not lost.
 * A no-op without an SDK; never rejects.
 */
export async function flushTelemetry(timeoutMs = FLUSH_TIMEOUT_MS): Promise<void> {
  const providers: unknown[] = [];
  const tp = registeredTracerProvider();
  if (tp !== noopTracerProvider) providers.push(tp);
  const mp = otelApi().metrics.getMeterProvider();
  if (meteringEnabled(mp)) providers.push(mp);
  const flushes = providers
    .map((p) => (p as { forceFlush?: () => Promise<unknown> }).forceFlush?.bind(p))
    .filter((f): f is () => Promise<unknown> => typeof f === "function")
    .map((f) => Promise.resolve().then(f).catch(() => undefined));
  if (flushes.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all(flushes), timeout]);
  clearTimeout(timer);
}
