/**
 * The worker's side of tracing: one `attempt <state>/<task>` span per delivery it
 * handles, a child of the coordinator's task span named by the task message's
 * `traceparent` (a NATS header, or the message itself on the memory transport), with
 * the executor running inside it, so spans the executor makes (HTTP, database
 * clients) hang under the attempt. Plus the attempt duration and queue wait
 * histograms. With no SDK registered, `startAttemptTelemetry` returns undefined and
 * the attempt costs nothing more.
 */
import type { Attributes, Context, Span } from "@opentelemetry/api";
import type { SerializedError } from "../errors/serialize.js";
import { ATTR, contextFrom, otelApi, phaseflowInstruments, phaseflowTracer, tracingEnabled, type Instruments } from "../telemetry/otel.js";
import type { TaskMessage } from "../transport/messages.js";

export type AttemptEnd =
  | { status: "succeeded" }
  | { status: "failed"; error: SerializedError }
  /** Handed back (nak) or released: another delivery goes on with it. */
  | { status: "requeued" | "released" };

export class AttemptTelemetry {
  private ranFor: number | undefined;
  private ended = false;

  constructor(
    private readonly span: Span | undefined,
    private readonly ctx: Context | undefined,
    private readonly instruments: Instruments | undefined,
    private readonly metricAttrs: Attributes,
  ) {}

  /** Run `fn` with the attempt span active (the executor's own spans become its children). */
  within<T>(fn: () => T): T {
    return this.ctx === undefined ? fn() : otelApi().context.with(this.ctx, fn);
  }

  /** The executor is about to run, `waitedMs` after its dispatch. */
  started(waitedMs: number): void {
    this.instruments?.queueWait.record(Math.max(0, waitedMs) / 1000, this.metricAttrs);
    this.span?.addEvent("executor started");
  }

  /** The executor returned (or was given up on) after `durationMs`. */
  ran(durationMs: number): void {
    this.ranFor = durationMs;
  }

  end(outcome: AttemptEnd): void {
    if (this.ended) return;
    this.ended = true;
    if (this.ranFor !== undefined && this.instruments && (outcome.status === "succeeded" || outcome.status === "failed")) {
      this.instruments.attemptDuration.record(this.ranFor / 1000, { ...this.metricAttrs, [ATTR.status]: outcome.status });
    }
    const span = this.span;
    if (!span) return;
    span.setAttribute(ATTR.status, outcome.status);
    if (outcome.status === "failed") {
      span.setAttribute(ATTR.errorCode, outcome.error.code);
      span.setAttribute(ATTR.errorType, outcome.error.code);
      span.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: outcome.error.message });
    } else if (outcome.status === "succeeded") {
      span.setStatus({ code: otelApi().SpanStatusCode.OK });
    }
    span.end();
  }
}

/** The telemetry of one delivery, or undefined when neither a tracer nor a meter provider is registered. */
export function startAttemptTelemetry(m: TaskMessage, workerId: string, deliveryCount: number): AttemptTelemetry | undefined {
  const instruments = phaseflowInstruments();
  const tracing = tracingEnabled();
  if (!tracing && !instruments) return undefined;
  const metricAttrs: Attributes = { [ATTR.workflow]: m.workflow, [ATTR.executor]: m.executor };
  if (!tracing) return new AttemptTelemetry(undefined, undefined, instruments, metricAttrs);
  const { context, trace, SpanKind } = otelApi();
  const parent = contextFrom(m, context.active());
  const attributes: Attributes = {
    [ATTR.workflow]: m.workflow,
    [ATTR.runId]: m.runId,
    [ATTR.state]: m.state,
    [ATTR.visit]: m.visit,
    [ATTR.taskId]: `${m.state}/${m.task}`,
    [ATTR.attempt]: m.attempt,
    [ATTR.dispatchId]: m.dispatchId,
    [ATTR.executor]: m.executor,
    [ATTR.workerId]: workerId,
    [ATTR.deliveryCount]: deliveryCount,
    [ATTR.round]: m.round,
  };
  const span = phaseflowTracer().startSpan(`attempt ${m.state}/${m.task}`, { kind: SpanKind.CONSUMER, attributes }, parent);
  return new AttemptTelemetry(span, trace.setSpan(parent, span), instruments, metricAttrs);
}
