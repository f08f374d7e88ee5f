/**
 * An OpenTelemetry SDK for the telemetry tests, registered globally in this test
 * file's worker the way an application registers one: a tracer provider exporting to
 * an in-memory exporter, an AsyncLocalStorage context manager, and a meter provider
 * read on demand. Plus readers for the span tree and the counters.
 */
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { AggregationTemporality, MeterProvider, MetricReader, type DataPoint, type Histogram, type ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";

/** A reader that collects when asked (no timer). */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface TestTelemetry {
  spans: InMemorySpanExporter;
  reader: MetricReader;
  /** Sum of a counter (or up-down counter) over the data points whose attributes include `match`. */
  sum(name: string, match?: Record<string, string>): Promise<number>;
  /** How many values a histogram recorded over the matching data points. */
  count(name: string, match?: Record<string, string>): Promise<number>;
  shutdown(): Promise<void>;
}

export function installTestTelemetry(): TestTelemetry {
  const spans = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meterProvider);

  const points = async (name: string, match: Record<string, string>): Promise<DataPoint<unknown>[]> => {
    const { resourceMetrics, errors } = await reader.collect();
    if (errors.length > 0) throw new Error(`metric collection failed: ${String(errors[0])}`);
    return pointsOf(resourceMetrics, name).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  };
  return {
    spans,
    reader,
    sum: async (name, match = {}) => (await points(name, match)).reduce((n, p) => n + (p.value as number), 0),
    count: async (name, match = {}) => (await points(name, match)).reduce((n, p) => n + (p.value as Histogram).count, 0),
    async shutdown() {
      await provider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      context.disable();
    },
  };
}

function pointsOf(rm: ResourceMetrics, name: string): DataPoint<unknown>[] {
  const out: DataPoint<unknown>[] = [];
  for (const scope of rm.scopeMetrics) for (const m of scope.metrics) if (m.descriptor.name === name) out.push(...(m.dataPoints as DataPoint<unknown>[]));
  return out;
}

/** The finished spans of one trace. */
export function spansOf(exporter: InMemorySpanExporter, traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
}

export const parentIdOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

/** The finished spans whose name starts with `prefix` that are children of `parent`. */
export function childrenOf(spans: readonly ReadableSpan[], parent: ReadableSpan, prefix = ""): ReadableSpan[] {
  return spans.filter((s) => parentIdOf(s) === parent.spanContext().spanId && s.name.startsWith(prefix));
}
