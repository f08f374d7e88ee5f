/**
 * One attempt of one task on this worker, from delivery to settlement: resolve the
 * executor, check its input, run it under a timeout and an abort signal, check its
 * output, report `attempt.succeeded` or `attempt.failed` (with the attempt's token,
 * or the coordinator refuses it), and ack only once that report is stored. An attempt
 * still running after `LIVE_START_MS` says so with a live `attempt.started` signal
 * (not stored; short attempts cost no message for it), then a live heartbeat every
 * `LIVE_HEARTBEAT_MS`, which the coordinator's watchdog listens to. Anything that keeps the report from being
 * stored naks the delivery so the attempt is redone; a report may then be stored
 * twice, which the coordinator tolerates (it settles each `dispatchId` once).
 *
 * Rules a user may care about:
 * - failures before the executor runs (unknown executor, bad input, cancelled, or past
 *   its queue deadline `startBy` on arrival: QUEUE_TIMEOUT) are reported as
 *   `attempt.failed` without `attempt.started`;
 * - once the signal has fired (timeout or cancel) the attempt fails with that reason,
 *   even if the executor then returns a value;
 * - an executor that ignores the signal gets `abortGraceMs`, then the worker reports
 *   the failure, frees the slot and discards whatever the executor does later;
 * - the time budget is `timeoutMs` from the executor's start (README "Traffic control": the wait in the
 *   queue never counts); a message from an older coordinator may carry an end-by
 *   `deadline`, which still cuts it short; `startBy` is compared with this worker's clock
 *   (keep clocks in sync);
 * - every live signal and the report carry the executor's start, from which the
 *   coordinator backstops the timeout (runtime/core/attempt-timers.ts); an attempt with a
 *   queue deadline announces its start at once, so the coordinator does not fail it as
 *   never started;
 * - an executor returning `undefined` reports `null` (JSON has no `undefined`);
 * - a result that cannot travel (not JSON, too large) is reported as that error.
 */
import {
  ExecutorNotFoundError,
  OutputValidationError,
  PhaseflowError,
  QueueTimeoutError,
  TaskCancelledError,
  TaskInputValidationError,
  TaskTimeoutError,
} from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import type { ExecutorEntry, Logger } from "../registry/types.js";
import type { TimerHandle } from "../support/clock.js";
import { inputOfMessage } from "../runtime/core/dataflow.js";
import { WIRE_VERSION, undeliverableReason, type LiveSignal, type Report, type TaskMessage } from "../transport/messages.js";
import type { TaskDelivery } from "../transport/port.js";
import { startAttemptTelemetry, type AttemptTelemetry } from "./attempt-telemetry.js";
import { AttemptContext } from "./context.js";
import type { ResolvedWorkerOptions } from "./options.js";
import { ProgressThrottle } from "./progress.js";
import { openAttemptScope, type AttemptScope, type StrayTarget } from "./stray-errors.js";
import { afterMacrotask, isThenable, parseWith } from "./executor-call.js";

/** An attempt running longer than this sends a live attempt.started. */
export const LIVE_START_MS = 200;
/** Then a live heartbeat this often, for the coordinator's watchdog. */
export const LIVE_HEARTBEAT_MS = 5_000;

/** Deliveries of a task whose executor this worker lacks before it reports the attempt failed. */
export const UNKNOWN_EXECUTOR_REDELIVERIES = 3;

export interface WorkerCounters {
  completed: number;
  failed: number;
  abandoned: number;
  requeued: number;
  /** Task messages terminated unrun: their ids do not fit together (forged or corrupt). */
  undeliverable: number;
}

/** What an attempt needs from its worker. */
export interface AttemptEnv {
  readonly options: ResolvedWorkerOptions;
  readonly log: Logger;
  readonly counters: WorkerCounters;
  /** The reason this message was cancelled before it arrived, if it was. */
  cancelledBefore(message: TaskMessage): string | undefined;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

type ReportBody = { type: "attempt.succeeded"; output: unknown; durationMs: number } | { type: "attempt.failed"; error: ReturnType<typeof serializeError>; durationMs: number };
type LiveBody = { type: "attempt.started"; delivery: number } | { type: "attempt.heartbeat" } | { type: "attempt.progress"; done: number; total?: number };

export class Attempt implements StrayTarget {
  /** The task message; its input and parents resolved once payload references in them are (transport/payloads.ts). */
  message: TaskMessage;
  readonly taskId: string;
  /** Made on first read of `ctx.signal`: most executors never look at it. */
  private controller: AbortController | undefined;
  private abortReason: Error | undefined;
  private onAbort: (() => void) | undefined;
  private settled = false;
  private released = false;
  private timeoutTimer: TimerHandle;
  private graceTimer: TimerHandle;
  private liveTimer: TimerHandle;
  private throttle: ProgressThrottle | undefined;
  private childLog: Logger | undefined;
  private onRelease: (() => void) | undefined;
  /** While the executor runs: settle its call now (a stray error of its own). */
  private crash: ((error: Error) => void) | undefined;
  /** The executor's stray-error scope, from its call until the attempt settles or is released. */
  private scope: AttemptScope | undefined;
  /** When the executor was started (this worker's clock); undefined before. */
  private startedAt: number | undefined;
  /** Its span and metrics; undefined while no OpenTelemetry SDK is registered. */
  private readonly telemetry: AttemptTelemetry | undefined;

  constructor(
    private readonly env: AttemptEnv,
    private readonly delivery: TaskDelivery,
  ) {
    this.message = delivery.message;
    this.taskId = `${this.message.state}/${this.message.task}`;
    this.telemetry = startAttemptTelemetry(this.message, env.options.workerId, delivery.deliveryCount);
  }

  /** Run the attempt; resolves when it is settled or released. Never rejects. */
  execute(): Promise<void> {
    const released = new Promise<void>((resolve) => (this.onRelease = resolve));
    const run = this.run().catch((err: unknown) => {
      this.env.log.error({ err, dispatchId: this.message.dispatchId }, "worker: unexpected error while handling a task; the delivery is nak'd for redelivery");
      this.nak(this.env.options.requeueDelayMs);
    });
    return Promise.race([run.finally(() => this.dispose()), released]);
  }

  /** Fire the signal (timeout, cancel); the executor then has `abortGraceMs` to return. */
  abort(reason: Error): void {
    if (this.abortReason !== undefined) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
    this.onAbort?.();
  }

  /** The executor's `ctx.signal`. */
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Hand the delivery back now (worker stopping); whatever this attempt does later is discarded. */
  release(reason: Error): void {
    if (this.released || this.settled) return;
    this.released = true;
    this.scope?.close();
    this.telemetry?.end({ status: "released" });
    this.abort(reason);
    this.nak(0);
    this.onRelease?.();
  }

  /** The executor's logger, made on first use: most executors never log. */
  log(): Logger {
    this.childLog ??= this.env.log.child({ runId: this.message.runId, task: this.taskId, attempt: this.message.attempt });
    return this.childLog;
  }

  progress(done: number, total: number | undefined): void {
    if (this.settled || this.released) return;
    this.delivery.working();
    this.throttle ??= new ProgressThrottle(this.env.options.clock, this.env.options.progressIntervalMs, (d, t) => {
      this.live(t === undefined ? { type: "attempt.progress", done: d } : { type: "attempt.progress", done: d, total: t });
    });
    this.throttle.report(done, total);
  }

  heartbeat(): void {
    if (!this.settled) this.delivery.working();
  }

  describe(): Record<string, unknown> {
    const m = this.message;
    return { runId: m.runId, task: this.taskId, visit: m.visit, attempt: m.attempt, dispatchId: m.dispatchId, executor: m.executor };
  }

  /** A stray error of this attempt's executor (stray-errors.ts): fire its signal and fail it now, without the grace period. */
  strayFailure(error: PhaseflowError): boolean {
    const crash = this.crash;
    if (crash === undefined || this.settled || this.released) return false;
    this.abort(error);
    crash(error);
    return true;
  }

  private async run(): Promise<void> {
    const m = this.message;
    const { registry, clock } = this.env.options;
    const problem = undeliverableReason(m);
    if (problem !== undefined) {
      // Not an attempt any coordinator dispatched: nothing to run and nobody to report to. Drop it for good.
      this.env.counters.undeliverable++;
      this.env.log.warn({ runId: m.runId, dispatchId: m.dispatchId, executor: m.executor, problem }, "worker: undeliverable task message terminated");
      this.settled = true;
      this.delivery.term();
      return;
    }
    const entry = registry.get(m.executor);
    if (entry === undefined) {
      // Workers of one namespace share its queue: during a rolling deploy, or with pools that
      // serve different executors of a namespace, another worker may well have this one.
      // Hand it back a few times before calling the attempt failed.
      if (this.delivery.deliveryCount < UNKNOWN_EXECUTOR_REDELIVERIES) {
        this.log().warn({ executor: m.executor, deliveryCount: this.delivery.deliveryCount }, "worker: executor not registered here; handing the task back for a worker that has it");
        this.nak(this.env.options.requeueDelayMs);
        return;
      }
      return this.finish({ ok: false, error: new ExecutorNotFoundError(m.executor, registry.keys()) }, 0);
    }
    const cancelled = this.env.cancelledBefore(m);
    if (cancelled !== undefined) return this.finish({ ok: false, error: new TaskCancelledError(this.taskId, cancelled) }, 0);

    if (m.startBy !== undefined && clock.now() > m.startBy) return this.finish({ ok: false, error: new QueueTimeoutError(this.taskId, Math.max(0, m.startBy - m.dispatchedAt)) }, 0);

    // The attempt's time budget: its timeoutMs from its start (an older coordinator's end-by deadline cuts it short).
    let budget = m.timeoutMs;
    if (m.deadline !== null) {
      const left = m.deadline - clock.now();
      const limit = m.timeoutMs ?? Math.max(0, m.deadline - m.dispatchedAt);
      if (left <= 0) return this.finish({ ok: false, error: new TaskTimeoutError(this.taskId, limit) }, 0);
      budget = budget === null ? left : Math.min(budget, left);
    }

    const payloads = this.env.options.transport.payloads;
    if (this.delivery.payloadRefs === true && payloads !== undefined) {
      // Values over inlineBytes travel as references: fetched here, when the executor is about to need them.
      try {
        const [input, parents] = await payloads.resolve([m.input, m.parents] as const);
        this.message = m.input === undefined ? { ...m, parents } : { ...m, input, parents };
      } catch (err) {
        return this.finish({ ok: false, error: err }, 0);
      }
    }
    let input = inputOfMessage(this.message);
    if (entry.input !== undefined) {
      const parsed = await parseWith(entry.input, input);
      if (!parsed.ok) return this.finish({ ok: false, error: new TaskInputValidationError(this.taskId, parsed.issues) }, 0);
      input = parsed.value;
    }

    // Long attempts say they started (live, not stored), then keep a heartbeat; one with a
    // queue deadline says so at once, before the coordinator judges it never started.
    const startedAt = clock.now();
    this.startedAt = startedAt;
    const beat = (first: boolean): void => {
      this.liveTimer = clock.setTimeout(() => {
        if (this.settled || this.released) return;
        this.live(first ? { type: "attempt.started", delivery: this.delivery.deliveryCount } : { type: "attempt.heartbeat" });
        beat(false);
      }, first ? LIVE_START_MS : LIVE_HEARTBEAT_MS);
    };
    if (m.startBy !== undefined) {
      this.live({ type: "attempt.started", delivery: this.delivery.deliveryCount });
      beat(false);
    } else {
      beat(true);
    }

    this.telemetry?.started(startedAt - m.dispatchedAt);
    if (budget !== null) {
      const limit = m.timeoutMs ?? budget;
      this.timeoutTimer = clock.setTimeout(() => this.abort(new TaskTimeoutError(this.taskId, limit)), budget);
    }
    let outcome = await this.invoke(entry, input);
    this.telemetry?.ran(clock.now() - startedAt);
    if (this.liveTimer !== undefined) clock.clearTimeout(this.liveTimer);
    this.liveTimer = undefined;
    if (this.released) return;
    if (this.timeoutTimer !== undefined) clock.clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    if (this.abortReason !== undefined) {
      outcome = { ok: false, error: this.abortReason };
    } else if (outcome.ok && entry.output !== undefined) {
      const parsed = await parseWith(entry.output, outcome.value);
      outcome = parsed.ok ? { ok: true, value: parsed.value } : { ok: false, error: new OutputValidationError(this.taskId, parsed.issues) };
    }
    await this.finish(outcome, clock.now() - startedAt);
  }

  /** Call the executor after a macrotask boundary; settle on its result or, once aborted, after the grace period. */
  private invoke(entry: ExecutorEntry, input: unknown): Promise<Outcome> {
    const { clock, abortGraceMs } = this.env.options;
    return new Promise<Outcome>((resolve) => {
      let done = false;
      let abandoned = false;
      const settle = (outcome: Outcome): void => {
        if (!done) {
          done = true;
          this.crash = undefined;
          this.scope?.close();
          resolve(outcome);
        } else if (abandoned) {
          this.log().warn({ ok: outcome.ok }, `worker: executor "${entry.key}" finished after it was abandoned; its result is discarded`);
        }
      };
      this.onAbort = (): void => {
        this.graceTimer = clock.setTimeout(() => {
          if (done) return;
          abandoned = true;
          this.env.counters.abandoned++;
          this.log().warn(`worker: executor "${entry.key}" did not return within ${abortGraceMs} ms after its signal fired; reporting the failure and freeing the slot (honour ctx.signal to avoid this)`);
          settle({ ok: false, error: this.abortReason });
        }, abortGraceMs);
      };
      this.crash = (error) => settle({ ok: false, error });
      afterMacrotask(() => {
        if (this.abortReason !== undefined) return settle({ ok: false, error: this.abortReason });
        let result: unknown;
        try {
          // In the attempt's async scope (a stray error of the executor is traced back to it), inside its span if traced.
          const ctx = new AttemptContext(this);
          const call = (): unknown => entry.fn(input, ctx);
          const telemetry = this.telemetry;
          this.scope = openAttemptScope(this);
          result = this.scope.run(telemetry === undefined ? call : () => telemetry.within(call));
        } catch (err) {
          return settle({ ok: false, error: err });
        }
        if (isThenable(result)) {
          Promise.resolve(result).then(
            (value) => settle({ ok: true, value }),
            (error: unknown) => settle({ ok: false, error }),
          );
        } else {
          settle({ ok: true, value: result });
        }
      });
    });
  }

  /** Store the result, then ack; nak when it cannot be stored. */
  private async finish(outcome: Outcome, durationMs: number): Promise<void> {
    if (this.released) return;
    this.throttle?.close();
    const body: ReportBody = outcome.ok
      ? { type: "attempt.succeeded", output: outcome.value === undefined ? null : outcome.value, durationMs }
      : { type: "attempt.failed", error: serializeError(outcome.error), durationMs };
    try {
      await this.publish(body);
    } catch (err) {
      // A result the wire cannot carry (not JSON, too large) will not improve on a retry: report that.
      if (outcome.ok && err instanceof PhaseflowError && !err.retryable) return this.finish({ ok: false, error: err }, durationMs);
      this.log().warn({ err }, "worker: the attempt's result could not be stored; the delivery is nak'd so the attempt is redone");
      this.nak(this.env.options.requeueDelayMs);
      return;
    }
    if (outcome.ok) this.env.counters.completed++;
    else this.env.counters.failed++;
    this.telemetry?.end(body.type === "attempt.succeeded" ? { status: "succeeded" } : { status: "failed", error: body.error });
    if (this.settled) return;
    this.settled = true;
    try {
      await this.delivery.ack();
    } catch (err) {
      this.log().warn({ err }, "worker: ack failed after the result was stored; the task may be redelivered (its report is then ignored)");
    }
  }

  /** What a report and a live signal of this attempt both say: which attempt, where, when. */
  private about() {
    const m = this.message;
    return { v: WIRE_VERSION as typeof WIRE_VERSION, runId: m.runId, at: this.env.options.clock.now(), state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, workerId: this.env.options.workerId };
  }

  private publish(body: ReportBody): Promise<void> {
    // Written out, not spread together from about() and body: every attempt sends one, and
    // spreading several objects into a literal was the worker's costliest line per task.
    const m = this.message;
    const { workerId, clock } = this.env.options;
    const at = clock.now();
    const report: Report =
      body.type === "attempt.succeeded"
        ? { v: WIRE_VERSION, runId: m.runId, at, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, workerId, kind: "report", token: m.token, type: body.type, output: body.output, durationMs: body.durationMs }
        : { v: WIRE_VERSION, runId: m.runId, at, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, workerId, kind: "report", token: m.token, type: body.type, error: body.error, durationMs: body.durationMs };
    if (this.startedAt !== undefined) report.startedAt = this.startedAt;
    return this.env.options.transport.publishReport(report);
  }

  private live(body: LiveBody): void {
    this.env.options.transport.publishLive({ ...this.about(), ...body, ...this.started() } satisfies LiveSignal);
  }

  private started(): { startedAt?: number } {
    return this.startedAt === undefined ? {} : { startedAt: this.startedAt };
  }

  private nak(delayMs: number): void {
    if (this.settled) return;
    this.settled = true;
    this.telemetry?.end({ status: "requeued" });
    this.env.counters.requeued++;
    this.delivery.nak(delayMs);
  }

  private dispose(): void {
    const { clock } = this.env.options;
    if (this.timeoutTimer !== undefined) clock.clearTimeout(this.timeoutTimer);
    if (this.graceTimer !== undefined) clock.clearTimeout(this.graceTimer);
    if (this.liveTimer !== undefined) clock.clearTimeout(this.liveTimer);
    this.throttle?.close();
  }
}
