/**
 * One run as the coordinator drives it: the xstate actor (run machine), the state
 * execution in progress, the outbox, and the run record — which is folded from the
 * events as the transport delivers them back (the coordinator's own decisions and the
 * workers' reports alike), so it always equals `reduceRunEvents(history)`.
 *
 * `result()` settles when the run's terminal event comes back from the transport; it
 * rejects only when the engine breaks (transport error, close() mid-run).
 */
import { createActor, type Actor } from "xstate";
import type { Workflow } from "../dsl/workflow.js";
import { EngineClosedError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import { indexPlan, type PlanIndex } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { AttemptReport, RunEvent } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import type { Clock, RandomSource } from "./clock.js";
import { createRunMachine, type StepInput, type StepOutput } from "./coordinator-machine.js";
import { Outbox } from "./coordinator-outbox.js";
import type { EventBody, RunScope } from "./coordinator-scope.js";
import { runState, type StateExecution } from "./coordinator-state-runner.js";
import { decideNext, definitionsOf } from "./coordinator-transitions.js";
import { applyRunEvent, emptyRunRecord, isRunFinished, snapshotRunRecord } from "./run-record.js";
import type { RunRecord } from "./run-record-schema.js";
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
}

const TERMINAL_TYPES = new Set<RunEvent["type"]>(["run.succeeded", "run.failed", "run.cancelled"]);

export class CoordinatedRun implements RunHandle {
  readonly runId: string;
  private readonly record: RunRecord;
  private readonly history: RunEvent[] = [];
  private terminalIndex: number | undefined;
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private waiters: (() => void)[] = [];
  private readonly outbox: Outbox;
  private readonly scope: RunScope;
  private readonly index: PlanIndex;
  private actor: Actor<ReturnType<typeof createRunMachine>> | undefined;
  private current: StateExecution | undefined;
  /** The machine reached a terminal state (its terminal event may still be on its way). */
  private decided = false;
  private pendingCancel: string | undefined;
  private readonly settled: Promise<RunRecord>;
  private resolveResult!: (r: RunRecord) => void;
  private rejectResult!: (e: unknown) => void;
  private brokenBy: Error | undefined;

  constructor(private readonly deps: RunDeps) {
    this.runId = deps.runId;
    this.record = emptyRunRecord(deps.runId);
    this.index = indexPlan(deps.plan);
    this.settled = new Promise<RunRecord>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // Callers may never ask for the result; a broken run must not become an unhandled rejection.
    this.settled.catch(() => undefined);
    this.outbox = new Outbox(deps.transport, (err) => this.break(err));
    this.scope = {
      runId: deps.runId,
      plan: deps.plan,
      defs: definitionsOf(deps.workflow),
      options: deps.options,
      clock: deps.clock,
      random: deps.random,
      log: deps.log,
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
    const actor = createActor(createRunMachine(plan, this.hooks()), { input: { input } });
    this.actor = actor;
    actor.subscribe({ error: (err) => this.break(err) });
    actor.start();
  }

  private hooks(): Parameters<typeof createRunMachine>[1] {
    return {
      runState: (step, signal) => this.runStep(step, signal),
      entered: (state, visit, input) => this.emit({ type: "state.entered", state, visit, input }),
      exited: (state, visit, output, next) => this.emit({ type: "state.exited", state, visit, output, next }),
      succeeded: (output) => this.end({ type: "run.succeeded", output }),
      failed: (error) => this.end({ type: "run.failed", error: serializeError(error) }),
      cancelled: (reason) => this.end({ type: "run.cancelled", reason }),
    };
  }

  private async runStep(step: StepInput, signal: AbortSignal): Promise<StepOutput> {
    const planState = this.index.state(step.state);
    const exec = runState(this.scope, planState, step.visit, step.input);
    this.current = exec;
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
    this.history.push(event);
    applyRunEvent(this.record, event);
    if (TERMINAL_TYPES.has(event.type) && this.terminalIndex === undefined) this.terminalIndex = this.history.length - 1;
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.deps.log.warn({ err }, "a run event listener threw; listeners should not throw");
      }
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
    if (event.type.startsWith("attempt.")) this.current?.onReport(event as AttemptReport);
    if (this.terminalIndex === this.history.length - 1) this.resolveResult(snapshotRunRecord(this.record));
  }

  get finished(): boolean {
    return isRunFinished(this.record) || this.brokenBy !== undefined;
  }

  result(): Promise<RunRecord> {
    return this.settled;
  }

  status(): RunRecord {
    return snapshotRunRecord(this.record);
  }

  on(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async cancel(reason = "cancelled by request"): Promise<void> {
    this.requestCancel(reason);
    await this.settled.then(
      () => undefined,
      () => undefined,
    );
  }

  private requestCancel(reason: string): void {
    if (this.decided || this.brokenBy !== undefined) return;
    if (!this.actor) {
      this.pendingCancel = reason;
      return;
    }
    this.current?.cancel(reason);
    this.current = undefined;
    this.actor.send({ type: "CANCEL", reason });
  }

  events(): AsyncIterable<RunEvent> {
    return {
      [Symbol.asyncIterator]: () => {
        let i = 0;
        return {
          next: async (): Promise<IteratorResult<RunEvent>> => {
            for (;;) {
              if (this.terminalIndex !== undefined && i > this.terminalIndex) return { done: true, value: undefined };
              const event = this.history[i];
              if (event !== undefined) {
                i += 1;
                return { done: false, value: event };
              }
              if (this.brokenBy !== undefined) throw this.brokenBy;
              await new Promise<void>((resolve) => this.waiters.push(resolve));
            }
          },
          return: (): Promise<IteratorResult<RunEvent>> => Promise.resolve({ done: true, value: undefined }),
        };
      },
    };
  }

  /** The engine broke under this run (transport error, machine error): stop and reject result(). */
  break(err: unknown): void {
    if (this.brokenBy !== undefined || isRunFinished(this.record)) return;
    this.brokenBy = err instanceof Error ? err : new Error(String(err));
    this.deps.log.error({ err }, `run "${this.runId}" stopped: the engine failed under it`);
    this.halt();
    this.rejectResult(this.brokenBy);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
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
