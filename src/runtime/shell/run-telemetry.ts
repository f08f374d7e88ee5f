/**
 * The coordinator's side of a run's OpenTelemetry spans and metrics, driven by the
 * shell (run-shell.ts) from what it decided and folded, never from inside `decide` or
 * `evolve`: tracing is I/O, and a replayed history must not trace twice.
 *
 * Spans: `run <workflow>` -> `state <state>` (one per visit) -> `task <state>/<task>`
 * (from its first dispatch to its verdict, across retries); each task message carries
 * its task span in `traceparent`, the parent of the worker's `attempt` span
 * (worker/attempt-telemetry.ts). The run span's own trace context is recorded in
 * `run.started`, so a coordinator that picks the run up later (a takeover, a restart,
 * a retry) opens its spans in the same trace: a new `run` span, child of the first
 * one, marked `phaseflow.run.resumed`, with new spans for the state visit and the
 * tasks it goes on with. A coordinator that lets a run go (its lease moved, it is
 * closing) ends its open spans without a status; one that crashed never ends them,
 * and a backend shows the resumed spans under a parent it never received.
 *
 * Metrics count what this coordinator decided (dispatches, verdicts, retries), not
 * what it folded from an earlier holder's history, so a fleet's counters sum to the
 * runs' records. Nothing here runs per task while no SDK is registered: the run span
 * is checked once, and instruments are looked up once per run.
 */
import type { Attributes, Context, Span } from "@opentelemetry/api";
import { ATTR, contextFrom, injectTraceContext, otelApi, phaseflowInstruments, phaseflowTracer, tracingEnabled, type Instruments } from "../../telemetry/otel.js";
import type { RunEvent, TaskMessage } from "../../transport/messages.js";
import type { Trigger } from "../core/decide.js";
import { isFinished, taskKey, taskRecordOf, type RunState } from "../core/run-state.js";

const stateKey = (state: string, visit: number): string => `${state}\u0000${visit}`;

export type StopKind = "finished" | "released" | "broken";

export class RunTelemetry {
  private tracing = false;
  private instruments: Instruments | undefined;
  private active = false;
  private runSpan: Span | undefined;
  private runContext: Context = otelApi().ROOT_CONTEXT;
  private readonly states = new Map<string, { span: Span; ctx: Context }>();
  private readonly tasks = new Map<string, Span>();
  /** Metric attributes per executor (the workflow is the run's). */
  private readonly attrs = new Map<string, Attributes>();
  private workflow = "";

  constructor(
    private readonly state: RunState,
    /** The stored history the run was resumed from ([] for a new run). */
    private readonly folded: readonly RunEvent[],
    private readonly owner: string,
  ) {}

  /** The run starts being driven here; returns the trigger to decide (a start records the run span's trace context). */
  begin(trigger: Trigger): Trigger {
    if (isFinished(this.state) && trigger.type !== "retry") return trigger;
    this.workflow = this.state.model?.plan.workflow ?? this.state.record.workflow;
    this.instruments = phaseflowInstruments();
    if (this.instruments) {
      this.active = true;
      this.instruments.runsActive.add(1, { [ATTR.workflow]: this.workflow });
    }
    if (!tracingEnabled()) return trigger;
    const first = this.folded[0];
    const stored = first?.type === "run.started" ? first.traceparent : undefined;
    const { context, isSpanContextValid, trace, SpanKind } = otelApi();
    const parent = stored === undefined ? context.active() : contextFrom({ traceparent: stored }, context.active());
    const resumed = trigger.type !== "start";
    const attributes: Attributes = { [ATTR.workflow]: this.workflow, [ATTR.runId]: this.state.runId, [ATTR.coordinator]: this.owner, [ATTR.round]: this.state.round };
    if (resumed) attributes[ATTR.resumed] = true;
    const span = phaseflowTracer().startSpan(`run ${this.workflow}`, { kind: SpanKind.INTERNAL, attributes }, parent);
    if (!isSpanContextValid(span.spanContext())) return trigger; // no tracing SDK: nothing more per task
    this.tracing = true;
    this.runSpan = span;
    this.runContext = trace.setSpan(parent, span);
    if (trigger.type === "start") {
      const carrier: { traceparent?: string } = {};
      injectTraceContext(span.spanContext(), carrier);
      return { ...trigger, traceparent: carrier.traceparent };
    }
    return trigger;
  }

  /** Events this shell decided (already folded), in order. */
  decided(events: readonly RunEvent[]): void {
    if (!this.tracing && !this.instruments) return;
    for (const e of events) this.onEvent(e);
  }

  /** A report folded and accepted. */
  reported(event: RunEvent & { type: "attempt.succeeded" | "attempt.failed" }): void {
    if (!this.tracing && !this.instruments) return;
    this.onEvent(event);
  }

  /** Put the task span's trace context on a task message about to be sent. */
  dispatching(message: TaskMessage): void {
    if (!this.tracing) return;
    const span = this.tasks.get(taskKey(message.state, message.visit, message.task));
    if (span) injectTraceContext(span.spanContext(), message);
  }

  /** The shell stopped driving the run: it ended, was let go, or broke under it. */
  stopped(kind: StopKind, error?: Error): void {
    if (this.active) {
      this.active = false;
      this.instruments?.runsActive.add(-1, { [ATTR.workflow]: this.workflow });
    }
    if (!this.tracing) return;
    this.tracing = false;
    const run = this.runSpan;
    if (!run) return;
    if (kind !== "finished") {
      // Another coordinator goes on with the run (or will, from its history): not the run's outcome.
      for (const s of this.tasks.values()) s.end();
      for (const s of this.states.values()) s.span.end();
      run.setAttribute(ATTR.status, kind);
      if (kind === "broken" && error) {
        run.recordException(error);
        run.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: error.message });
      }
      run.end();
    }
    this.tasks.clear();
    this.states.clear();
  }

  private metricAttrs(executor: string): Attributes {
    let a = this.attrs.get(executor);
    if (!a) {
      a = { [ATTR.workflow]: this.workflow, [ATTR.executor]: executor };
      this.attrs.set(executor, a);
    }
    return a;
  }

  private executorOf(e: { state: string; task: string }, recorded?: string): string {
    if (recorded !== undefined) return recorded;
    try {
      return this.state.model?.layout(e.state).byName.get(e.task)?.plan.executor ?? "";
    } catch {
      return "";
    }
  }

  private stateSpan(stateName: string, visit: number): { span: Span; ctx: Context } {
    const key = stateKey(stateName, visit);
    let s = this.states.get(key);
    if (!s) {
      const attributes: Attributes = { [ATTR.workflow]: this.workflow, [ATTR.runId]: this.state.runId, [ATTR.state]: stateName, [ATTR.visit]: visit };
      if (this.folded.length > 0) attributes[ATTR.resumed] = true;
      const span = phaseflowTracer().startSpan(`state ${stateName}`, { attributes }, this.runContext);
      s = { span, ctx: otelApi().trace.setSpan(this.runContext, span) };
      this.states.set(key, s);
    }
    return s;
  }

  private taskSpan(e: { state: string; visit: number; task: string }, executor: string): Span {
    const key = taskKey(e.state, e.visit, e.task);
    let span = this.tasks.get(key);
    if (!span) {
      const parent = this.stateSpan(e.state, e.visit).ctx;
      const attributes: Attributes = {
        [ATTR.workflow]: this.workflow,
        [ATTR.runId]: this.state.runId,
        [ATTR.state]: e.state,
        [ATTR.visit]: e.visit,
        [ATTR.taskId]: `${e.state}/${e.task}`,
        [ATTR.executor]: executor,
      };
      span = phaseflowTracer().startSpan(`task ${e.state}/${e.task}`, { kind: otelApi().SpanKind.PRODUCER, attributes }, parent);
      this.tasks.set(key, span);
    }
    return span;
  }

  private endTask(e: { state: string; visit: number; task: string }, status: string, error?: { code: string; message: string }): void {
    const key = taskKey(e.state, e.visit, e.task);
    const span = this.tasks.get(key);
    if (!span) return;
    this.tasks.delete(key);
    const record = taskRecordOf(this.state, e.state, e.visit, e.task);
    span.setAttribute(ATTR.status, status);
    if (record) {
      span.setAttribute(ATTR.attempts, record.attempts);
      if (record.workerId !== undefined) span.setAttribute(ATTR.workerId, record.workerId);
    }
    if (error) {
      span.setAttribute(ATTR.errorCode, error.code);
      span.setAttribute(ATTR.errorType, error.code);
      span.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: error.message });
    } else if (status === "succeeded") {
      span.setStatus({ code: otelApi().SpanStatusCode.OK });
    }
    span.end();
  }

  private endRun(status: "succeeded" | "failed" | "cancelled", error?: { code: string; message: string }): void {
    for (const [key, span] of this.tasks) {
      span.setAttribute(ATTR.status, this.state.tasks.get(key)?.status ?? status);
      span.end();
    }
    this.tasks.clear();
    for (const { span } of this.states.values()) {
      span.setAttribute(ATTR.status, status);
      if (error) span.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: error.message });
      span.end();
    }
    this.states.clear();
    const run = this.runSpan;
    if (!run) return;
    run.setAttribute(ATTR.status, status);
    if (error) {
      run.setAttribute(ATTR.errorCode, error.code);
      run.setAttribute(ATTR.errorType, error.code);
      run.setStatus({ code: otelApi().SpanStatusCode.ERROR, message: error.message });
    } else if (status === "succeeded") {
      run.setStatus({ code: otelApi().SpanStatusCode.OK });
    }
    run.end();
    this.runSpan = undefined;
    this.tracing = false;
  }

  private onEvent(e: RunEvent): void {
    const tracing = this.tracing;
    const m = this.instruments;
    switch (e.type) {
      case "state.entered":
        if (tracing) this.stateSpan(e.state, e.visit);
        break;
      case "state.exited": {
        const key = stateKey(e.state, e.visit);
        const s = this.states.get(key);
        if (s) {
          this.states.delete(key);
          s.span.setAttribute(ATTR.status, "succeeded");
          if (e.next !== null) s.span.setAttribute(ATTR.next, e.next);
          s.span.setStatus({ code: otelApi().SpanStatusCode.OK });
          s.span.end();
        }
        break;
      }
      case "task.dispatched":
        m?.dispatched.add(1, this.metricAttrs(e.executor));
        if (tracing) this.taskSpan(e, e.executor).addEvent("dispatched", { [ATTR.attempt]: e.attempt, [ATTR.dispatchId]: e.dispatchId });
        break;
      case "task.retrying":
        m?.retried.add(1, this.metricAttrs(this.executorOf(e, taskRecordOf(this.state, e.state, e.visit, e.task)?.executor)));
        if (tracing) this.taskSpan(e, this.executorOf(e)).addEvent("retrying", { [ATTR.attempt]: e.attempt, [ATTR.errorCode]: e.error.code, "phaseflow.retry.next_attempt": e.nextAttempt });
        break;
      case "task.succeeded":
        m?.succeeded.add(1, this.metricAttrs(this.executorOf(e, taskRecordOf(this.state, e.state, e.visit, e.task)?.executor)));
        if (tracing) this.endTask(e, "succeeded");
        break;
      case "task.failed":
        m?.failed.add(1, this.metricAttrs(this.executorOf(e, taskRecordOf(this.state, e.state, e.visit, e.task)?.executor)));
        if (tracing) {
          this.taskSpan(e, this.executorOf(e));
          this.endTask(e, "failed", e.error);
        }
        break;
      case "task.skipped":
      case "task.cancelled":
        if (tracing) this.endTask(e, e.type === "task.skipped" ? "skipped" : "cancelled");
        break;
      case "attempt.succeeded": {
        if (!m && !tracing) break;
        const record = taskRecordOf(this.state, e.state, e.visit, e.task);
        // A report is the verdict itself for a task without an output schema.
        if (record?.status === "succeeded" && record.dispatchId === e.dispatchId) {
          m?.succeeded.add(1, this.metricAttrs(this.executorOf(e, record.executor)));
          if (tracing) this.endTask(e, "succeeded");
        }
        break;
      }
      case "attempt.failed":
        if (tracing) this.tasks.get(taskKey(e.state, e.visit, e.task))?.addEvent("attempt failed", { [ATTR.attempt]: e.attempt, [ATTR.workerId]: e.workerId, [ATTR.errorCode]: e.error.code });
        break;
      case "run.succeeded":
        if (tracing) this.endRun("succeeded");
        break;
      case "run.failed":
        if (tracing) this.endRun("failed", e.error);
        break;
      case "run.cancelled":
        if (tracing) this.endRun("cancelled");
        break;
      case "run.claimed":
        if (tracing) this.runSpan?.setAttribute(ATTR.epoch, e.epoch);
        break;
      default:
        break;
    }
  }
}
