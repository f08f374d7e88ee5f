/**
 * One run as the coordinator drives it: the xstate actor (run machine), the state
 * execution in progress, the outbox, and the run record — which is folded from the
 * events as the transport delivers them back (the coordinator's own decisions and the
 * workers' reports alike), so it always equals `reduceRunEvents(history)`.
 *
 * `result()` settles when the run's terminal event comes back from the transport; it
 * rejects only when the engine breaks (transport error, close() mid-run) or the run is
 * released to another coordinator.
 *
 * A run can also be picked up from its history (`seed` + `pickUp`): after a crash, a
 * takeover, or for a partial re-run. It re-reads the stored history first (events
 * published between the caller's read and now), then carries on from where the
 * history stands (run-recovery.ts) without publishing again anything it holds.
 */
import { createActor, type Actor } from "xstate";
import type { Workflow } from "../dsl/workflow.js";
import { EngineClosedError, MaxVisitsExceededError, RunReleasedError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import { indexPlan, type PlanIndex } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { AttemptReport, RunEvent } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import type { Clock, RandomSource } from "./clock.js";
import { createRunMachine, type ResumePoint, type StepInput, type StepOutput } from "./coordinator-machine.js";
import { Outbox } from "./coordinator-outbox.js";
import { RunFeed } from "./coordinator-run-feed.js";
import type { EventBody, RunScope } from "./coordinator-scope.js";
import { restoreState } from "./coordinator-state-restore.js";
import { runState, type StateExecution } from "./coordinator-state-runner.js";
import { decideNext, definitionsOf } from "./coordinator-transitions.js";
import { analyzeHistory, eventsAfter, type RecoveryPoint, type StateRestore } from "./run-recovery.js";
import { applyRunEvent } from "./run-record.js";
import type { RunRecord } from "./run-record-schema.js";
import { chooseRetry, type RetryFrom } from "./run-retry.js";
import type { ResolvedRunOptions } from "./run-options.js";

/** A started run. */
export interface RunHandle {
  readonly runId: string;
  /** The final run record, for succeeded, failed and cancelled runs alike; rejects only if the engine breaks. */
  result(): Promise<RunRecord>;
  /** Cancel the run (no-op once it finished); resolves when it has ended. */
  cancel(reason?: string): Promise<void>;
  /** A snapshot of the run record now. */
  status(): RunRecord;
  /** Every event of the run from the start, live; ends after the run's terminal event. */
  events(): AsyncIterable<RunEvent>;
  /** Call `listener` for each further event of the run; returns an unsubscribe function. */
  on(listener: (event: RunEvent) => void): () => void;
}

export interface RunDeps {
  runId: string;
  workflow: Workflow<unknown>;
  plan: Plan;
  input: unknown;
  options: Pick<ResolvedRunOptions, "schedule" | "onFailure">;
  transport: Transport;
  clock: Clock;
  random: RandomSource;
  log: Logger;
  /** Called once when the run ended (terminal event seen) or stopped here. */
  onEnd?: () => void;
}

/** A partial re-run to start once the history is re-read. */
export interface RetryRequest {
  from?: RetryFrom | undefined;
  reason?: string | undefined;
}

export class CoordinatedRun implements RunHandle {
  readonly runId: string;
  private readonly feed: RunFeed;
  private readonly outbox: Outbox;
  private scope: RunScope;
  private readonly index: PlanIndex;
  private actor: Actor<ReturnType<typeof createRunMachine>> | undefined;
  private current: StateExecution | undefined;
  /** The machine reached a terminal state (its terminal event may still be on its way). */
  private decided = false;
  private pendingCancel: string | undefined;
  /** The state visit to rebuild when the machine invokes it (resume). */
  private restoring: { state: string; visit: number; restore: StateRestore } | undefined;
  /** Events delivered while the history is re-read (resume); undefined once live. */
  private buffered: RunEvent[] | undefined;
  /** How many events `seed` was given. */
  private seeded = 0;
  /** Ended or stopped, for good: a run.retried that another coordinator records later does not revive this one. */
  private over = false;

  constructor(private readonly deps: RunDeps) {
    this.runId = deps.runId;
    this.feed = new RunFeed(deps.runId, deps.log, () => {
      if (this.over) return;
      this.over = true;
      deps.onEnd?.();
    });
    this.index = indexPlan(deps.plan);
    this.outbox = new Outbox(deps.transport, (err) => this.break(err), () => deps.clock.now());
    this.scope = {
      runId: deps.runId,
      plan: deps.plan,
      defs: definitionsOf(deps.workflow),
      options: deps.options,
      clock: deps.clock,
      random: deps.random,
      log: deps.log,
      round: 0,
      emit: (body) => this.emit(body),
      dispatch: (message) => this.outbox.task(message),
      control: (message) => this.outbox.control(message),
    };
  }

  /** Publish run.started and start the machine. */
  begin(): void {
    const { plan, options, input } = this.deps;
    this.emit({ type: "run.started", workflow: plan.workflow, version: plan.version, planHash: plan.planHash, input, options: { schedule: options.schedule, onFailure: options.onFailure } });
    if (this.pendingCancel !== undefined) {
      // Cancelled before it could start: nothing was dispatched.
      this.end({ type: "run.cancelled", reason: this.pendingCancel });
      return;
    }
    this.startMachine(input, undefined);
  }

  private startMachine(input: unknown, resume: ResumePoint | undefined): void {
    const actor = createActor(createRunMachine(this.deps.plan, this.hooks()), { input: { input, resume } });
    this.actor = actor;
    actor.subscribe({ error: (err) => this.break(err) });
    actor.start();
  }

  /**
   * Take the run's history as already seen (nothing of it is published again). With
   * `retrying`, a recorded end does not end this handle: a run.retried follows.
   */
  seed(events: readonly RunEvent[], retrying: boolean): void {
    this.feed.seed(events, retrying);
    this.seeded = events.length;
    if (!this.feed.ended) this.buffered = [];
  }

  /**
   * Carry a seeded run on: re-read the stored history for events published since it
   * was read, then go on from where it stands (with `retry`, record a run.retried
   * first). Failures stop the run (result() rejects).
   */
  async pickUp(retry?: RetryRequest): Promise<void> {
    try {
      const stored = await this.deps.transport.readRunEvents(this.runId);
      if (this.feed.stopped !== undefined) return;
      const live = this.buffered ?? [];
      this.buffered = undefined;
      for (const e of eventsAfter(this.seeded, stored, live)) this.take(e);
      const { history } = this.feed;
      const point = analyzeHistory(history);
      if (!point) throw new Error(`phaseflow bug: run "${this.runId}" has no run.started to resume from`);
      if (!retry) {
        if (!this.feed.ended) this.proceed(point);
        return;
      }
      const choice = chooseRetry(this.deps.plan, point, retry.from, retry.reason);
      const event: RunEvent = { type: "run.retried", ...choice, runId: this.runId, at: this.deps.clock.now() };
      this.outbox.event(event);
      // Seen at once here; applying it again when it comes back changes nothing.
      applyRunEvent(this.feed.record, event);
      this.proceed(analyzeHistory([...history, event])!);
    } catch (err) {
      this.break(err);
    }
  }

  /** Go on from a recovery point: start, enter the next state, finish, or rebuild the current visit. */
  private proceed(point: RecoveryPoint): void {
    const pos = point.position;
    const { visits, entries } = point;
    if (pos.kind === "ended") return;
    this.scope = { ...this.scope, round: point.round };
    const cancel = this.pendingCancel ?? (pos.kind === "in-state" ? pos.restore.cancel : undefined);
    if (cancel !== undefined) {
      if (pos.kind === "in-state") restoreState(this.scope, this.index.state(pos.state), pos.visit, pos.input, pos.restore).cancel(cancel);
      this.end({ type: "run.cancelled", reason: cancel });
      return;
    }
    if (pos.kind === "start") {
      this.startMachine(point.started.input, undefined);
    } else if (pos.kind === "in-state") {
      this.restoring = { state: pos.state, visit: pos.visit, restore: pos.restore };
      this.startMachine(pos.input, { state: pos.state, entered: true, visits, entries });
    } else if (pos.next === null) {
      this.end({ type: "run.succeeded", output: pos.output });
    } else {
      const max = this.index.state(pos.next).maxVisits;
      if ((entries[pos.next] ?? 0) >= max) this.end({ type: "run.failed", error: serializeError(new MaxVisitsExceededError(pos.next, max)) });
      else this.startMachine(pos.output, { state: pos.next, entered: false, visits, entries });
    }
  }

  private hooks(): Parameters<typeof createRunMachine>[1] {
    return {
      runState: (step, signal) => this.runStep(step, signal),
      exited: (state, visit, output, next) => this.emit({ type: "state.exited", state, visit, output, next }),
      succeeded: (output) => this.end({ type: "run.succeeded", output }),
      failed: (error) => this.end({ type: "run.failed", error: serializeError(error) }),
      cancelled: (reason) => this.end({ type: "run.cancelled", reason }),
    };
  }

  private async runStep(step: StepInput, signal: AbortSignal): Promise<StepOutput> {
    const planState = this.index.state(step.state);
    if (step.enter) this.emit({ type: "state.entered", state: step.state, visit: step.visit, input: step.input });
    const r = this.restoring;
    let exec: StateExecution;
    if (r && r.state === step.state && r.visit === step.visit) {
      this.restoring = undefined;
      const restored = restoreState(this.scope, planState, step.visit, step.input, r.restore);
      this.current = exec = restored;
      restored.resume();
    } else {
      this.current = exec = runState(this.scope, planState, step.visit, step.input);
    }
    signal.addEventListener("abort", () => exec.cancel("the run left the state"), { once: true });
    const { output, outputs } = await exec.done;
    return { output, next: decideNext(planState, this.scope.defs, output, outputs) };
  }

  private emit(body: EventBody): void {
    this.outbox.event({ ...body, runId: this.runId, at: this.deps.clock.now() });
  }

  private end(body: EventBody): void {
    this.decided = true;
    this.current = undefined;
    this.emit(body);
  }

  /** An event of this run, as delivered by the transport. */
  observe(event: RunEvent): void {
    if (this.buffered) this.buffered.push(event);
    else this.take(event);
  }

  private take(event: RunEvent): void {
    this.feed.push(event);
    if (event.type.startsWith("attempt.")) this.current?.onReport(event as AttemptReport);
  }

  /** The run ended (its terminal event came back) or stopped being driven here. */
  get finished(): boolean {
    return this.over;
  }

  result(): Promise<RunRecord> {
    return this.feed.settled;
  }

  status(): RunRecord {
    return this.feed.snapshot();
  }

  on(listener: (event: RunEvent) => void): () => void {
    return this.feed.on(listener);
  }

  events(): AsyncIterable<RunEvent> {
    return this.feed.events();
  }

  async cancel(reason = "cancelled by request"): Promise<void> {
    this.requestCancel(reason);
    await this.feed.settled.then(
      () => undefined,
      () => undefined,
    );
  }

  private requestCancel(reason: string): void {
    if (this.decided || this.feed.stopped !== undefined) return;
    if (!this.actor) {
      this.pendingCancel = reason;
      return;
    }
    this.current?.cancel(reason);
    this.current = undefined;
    this.actor.send({ type: "CANCEL", reason });
  }

  /** The engine broke under this run (transport error, machine error): stop and reject result(). */
  break(err: unknown): void {
    if (this.finished) return;
    this.deps.log.error({ err }, `run "${this.runId}" stopped: the engine failed under it`);
    this.stopWith(err instanceof Error ? err : new Error(String(err)));
  }

  /** Another coordinator drives the run now: stop at once, publishing nothing more; result() rejects with RunReleasedError. */
  release(): void {
    if (this.finished) return;
    this.deps.log.info({}, `run "${this.runId}" released: another coordinator drives it now`);
    this.stopWith(new RunReleasedError(this.runId));
  }

  private stopWith(err: Error): void {
    this.buffered = undefined;
    this.halt();
    this.feed.fail(err);
  }

  /** The coordinator is closing: stop without sending anything more. */
  abandon(): void {
    this.break(new EngineClosedError(this.runId));
  }

  private halt(): void {
    this.decided = true;
    this.outbox.close();
    this.current?.cancel("the coordinator stopped");
    this.current = undefined;
    this.actor?.stop();
  }
}
