/**
 * The trace context of a task message on NATS: W3C `traceparent` and `tracestate`
 * travel as message headers (where NATS tooling and other OpenTelemetry
 * instrumentations look for them), not in the JSON body. A header that is too long
 * is ignored rather than failing the message: a trace link is never worth a task.
 * API requests (client -> coordinator) carry the caller's span the same way, so a run
 * started from inside a span is traced as its child.
 */
import { headers, type MsgHdrs } from "@nats-io/transport-node";
import { INVALID_SPAN_CONTEXT, context, trace } from "@opentelemetry/api";
import { contextFrom, injectTraceContext, tracingEnabled, type TraceCarrier } from "../../telemetry/otel.js";
import type { TaskMessage } from "../messages.js";

export const TRACEPARENT_HEADER = "traceparent";
export const TRACESTATE_HEADER = "tracestate";

const MAX_TRACEPARENT = 128;
const MAX_TRACESTATE = 512;

/** The task message without its trace fields, and the headers that carry them (none without a traceparent). */
export function splitTraceContext(task: TaskMessage): { body: TaskMessage; headers: MsgHdrs | undefined } {
  if (task.traceparent === undefined && task.tracestate === undefined) return { body: task, headers: undefined };
  const { traceparent, tracestate, ...body } = task;
  if (traceparent === undefined) return { body, headers: undefined };
  const h = headers();
  h.set(TRACEPARENT_HEADER, traceparent);
  if (tracestate !== undefined) h.set(TRACESTATE_HEADER, tracestate);
  return { body, headers: h };
}

/** Room the trace headers take beyond the usual allowance (transport/json.ts HEADER_ALLOWANCE). */
export function traceHeaderBytes(task: TaskMessage): number {
  return (task.traceparent?.length ?? 0) + (task.tracestate?.length ?? 0) + 32;
}

/** Put the trace headers of a delivered task message back on it (in place). */
export function joinTraceContext(task: TaskMessage, h: MsgHdrs | undefined): TaskMessage {
  if (h === undefined) return task;
  const traceparent = h.get(TRACEPARENT_HEADER);
  if (traceparent === "" || traceparent.length > MAX_TRACEPARENT) return task;
  task.traceparent = traceparent;
  const tracestate = h.get(TRACESTATE_HEADER);
  if (tracestate !== "" && tracestate.length <= MAX_TRACESTATE) task.tracestate = tracestate;
  return task;
}

/** Headers carrying the active span's trace context (for a request made inside a span), or undefined. */
export function activeTraceHeaders(): MsgHdrs | undefined {
  if (!tracingEnabled()) return undefined;
  const carrier: TraceCarrier = {};
  injectTraceContext(trace.getSpanContext(context.active()) ?? INVALID_SPAN_CONTEXT, carrier);
  if (carrier.traceparent === undefined) return undefined;
  const h = headers();
  h.set(TRACEPARENT_HEADER, carrier.traceparent);
  if (carrier.tracestate !== undefined) h.set(TRACESTATE_HEADER, carrier.tracestate);
  return h;
}

/** Run `fn` in the trace context a request's headers carry (the caller's span), if any. */
export function withTraceHeaders<T>(h: MsgHdrs | undefined, fn: () => T): T {
  if (h === undefined || !tracingEnabled()) return fn();
  const traceparent = h.get(TRACEPARENT_HEADER);
  if (traceparent === "" || traceparent.length > MAX_TRACEPARENT) return fn();
  const tracestate = h.get(TRACESTATE_HEADER);
  return context.with(contextFrom({ traceparent, tracestate: tracestate === "" ? undefined : tracestate }), fn);
}
