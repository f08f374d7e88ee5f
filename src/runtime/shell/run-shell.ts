/**
 * The shell around one run: all the I/O of the core and none of its rules. It folds
 * the run's reports as they are stored (through the port, only this run's), feeds
 * them and its timers to `decide`, applies each decision locally at once (decide
 * already folded it), hands the events to the outbox for the history, and runs the
 * effects: task messages, control messages, timers. It never reads its own decisions
 * back from the wire.
 *
 * Live signals (attempt started, progress, heartbeats) are not history: the shell
 * shows them on the record, tells the watchdog when an attempt was last heard of, and
 * tells the decider when an attempt started (its timeout runs from there: attempt-timers.ts).
 */
import { CoordinatorError, EngineClosedError, FencedError, PhaseflowError, RunReleasedError } from "../../errors/base.js";
import { serializeError } from "../../errors/serialize.js";
import type { Logger } from "../../registry/types.js";
import { type ChildEndedMessage, type DecisionEvent, type LiveSignal, type ReportSubjectMessage, type RunEvent, type RunUpdate, type SignalMessage, type TaskMessage } from "../../transport/messages.js";
import { childEndedOf, type ChildRuns } from "./child-runs.js";
import type { Subscription, Transport } from "../../transport/port.js";
import type { Clock, TimerHandle } from "../../support/clock.js";
import { decide, type DecideRandom, type DecideSettings, type Effect, type Trigger } from "../core/decide.js";
import { reportEvent } from "../core/history.js";
import { RunFeed, type RunHandle } from "./run-handle.js";
import { runRecordOf, summaryOf, type RunSummary } from "../core/run-record.js";
import { RunOutbox } from "./run-outbox.js";
import { RunTelemetry, type StopKind } from "./run-telemetry.js";
import type { RunRecord } from "../core/run-record-schema.js";
import { applyLive, evolve, isFinished, type RunState } from "../core/run-state.js";
import type { LimitGate } from "./limit-gate.js";
import type { LimitRef } from "../core/limit-state.js";

const WATCHDOG = "watchdog:";

export interface ShellDeps {
  transport: Transport;
  clock: Clock;
  random: DecideRandom;
  settings: DecideSettings;
  log: Logger;
  /** This coordinator's identity (id with its per-process nonce). */
  owner: string;
  keepHistory: boolean;
  /** Called once when the run ended or stopped being driven here. */
  onStop: (shell: RunShell) => void;
  /** Starts and cancels child runs (child nodes). */
  children: ChildRuns;
  /** Task concurrency and rate limits, shared by every run of the coordinator (limit-gate.ts). */
  limits: LimitGate;
}

export class RunShell implements RunHandle {
  readonly runId: string;
  private readonly feed: RunFeed;
  private readonly outbox: RunOutbox;
  private readonly timers = new Map<string, TimerHandle>();
  /** Watchdog timers in due order, on one clock timer. */
  private readonly timersFifo = new Map<string, number>();
  private fifoTail = 0;
  private fifoTimer: TimerHandle = undefined;
  private readonly heard = new Map<string, number>();
  private reports: Subscription | undefined;
  private live: Subscription | undefined;
  private stopped = false;
  private readonly endWaiters: (() => void)[] = [];
  private readonly telemetry: RunTelemetry;
  /** Attempts waiting for their limits (not sent yet), and attempts holding them (sent, no report yet). */
  private readonly gated = new Set<string>();
  private readonly holding = new Set<string>();

  constructor(
    readonly state: RunState,
    lastDecisionSeq: number,
    private readonly d: ShellDeps,
    folded: readonly RunEvent[],
  ) {
    this.runId = state.runId;
    this.feed = new RunFeed(d.log, d.keepHistory);
    this.feed.seed(folded);
    this.telemetry = new RunTelemetry(state, folded, d.owner);
    this.outbox = new RunOutbox({
      runId: state.runId,
      transport: d.transport,
      log: d.log,
      by: d.owner,
      epoch: () => state.epoch,
      through: () => state.through,
      now: () => d.clock.now(),
      lastSeq: lastDecisionSeq,
      onDispatchFailed: (message, err) => this.dispatchFailed(message, err),
      onLost: (err) => this.lost(err),
    });
  }

  /** Subscribe to this run's reports and live signals, then act on `trigger`. */
  async begin(trigger: Trigger): Promise<void> {
    try {
      const after = this.state.through;
      this.reports = await this.d.transport.subscribeReports(this.runId, after, (seq, report) => this.onReport(seq, report));
      this.live = await this.d.transport.subscribeLive(this.runId, (signal) => this.onLive(signal));
      if (this.stopped) {
        await this.unsubscribe();
        return;
      }
      // Attempts in flight when this holder took the run: their task limits stay held (renewed from here) until their reports.
      for (const a of this.state.attempts.values()) {
        if (a.limits === undefined || this.state.verdicts.has(a.dispatchId)) continue;
        this.holding.add(a.dispatchId);
        const holder = a.dispatchId;
        this.d.limits.adopt({ holder, limits: a.limits, priority: this.state.record.options?.priority ?? 3, since: a.dispatchedAt }, () => {
          this.holding.delete(holder);
          this.step({ type: "lost", dispatchId: holder, reason: "the coordinator that dispatched it stopped while it waited for its task limits, so it was never sent" });
        });
      }
      this.step(this.telemetry.begin(trigger));
    } catch (err) {
      this.break(err);
    }
  }

  /**
   * Attempts dispatched at or before `before` (epoch ms) with nothing heard of them since:
   * no start, no report. The transport's `msgID` of each is `dispatchId@epoch`.
   */
  unstarted(before: number): { dispatchId: string; epoch: number; dispatchedAt: number }[] {
    const out: { dispatchId: string; epoch: number; dispatchedAt: number }[] = [];
    // Before the claim is stored, this holder's task messages are held back, not lost.
    if (this.stopped || !this.outbox.sending) return out;
    for (const a of this.state.attempts.values()) {
      if (a.task.status !== "dispatched" || a.dispatchedAt > before || this.state.verdicts.has(a.dispatchId) || this.heard.has(a.dispatchId) || this.gated.has(a.dispatchId)) continue;
      out.push({ dispatchId: a.dispatchId, epoch: this.state.epoch, dispatchedAt: a.dispatchedAt });
    }
    return out;
  }

  /** The attempt's task message is gone with nothing heard of it: dispatch it again now. */
  attemptLost(dispatchId: string, reason: string): void {
    this.step({ type: "lost", dispatchId, reason });
  }

  /** Decide on `trigger` and carry the decision out. */
  step(trigger: Trigger): void {
    if (this.stopped) return;
    let decided;
    const now = this.d.clock.now();
    try {
      decided = decide(this.state, trigger, now, this.d.random, this.d.settings);
    } catch (err) {
      this.break(err);
      return;
    }
    this.apply(decided.events, decided.stamped, decided.effects, now);
    // Attempts given up without a report of theirs (timed out, cancelled, the run ended) give their limits back.
    if (trigger.type !== "report" && trigger.type !== "started") this.settleLimits();
  }

  private apply(events: DecisionEvent[], stamped: readonly RunEvent[], effects: Effect[], at: number): void {
    let cancels = false;
    if (events.length > 0) {
      // Stored with the time they were decided at, which is the time decide folded them with.
      this.outbox.events(events, at);
      for (const e of stamped) this.feed.push(e);
      this.telemetry.decided(stamped);
    }
    for (const fx of effects) {
      switch (fx.type) {
        case "dispatch":
          if (fx.limits !== undefined && fx.limits.length > 0) this.dispatchLimited(fx.message, fx.limits, at);
          else {
            this.telemetry.dispatching(fx.message);
            this.outbox.dispatch(fx.message);
          }
          break;
        case "control":
          cancels = true;
          this.outbox.control(fx.message);
          break;
        case "timer":
          this.arm(fx.key, fx.at);
          break;
        case "cancelTimer":
          this.disarm(fx.key);
          break;
        case "startChild":
          this.d.children.start(fx.start);
          break;
        case "cancelChild":
          this.d.children.cancel(fx.runId, fx.reason);
          break;
      }
    }
    if (cancels) this.settleLimits();
    if (isFinished(this.state)) void this.finish();
  }

  /** Send the attempt once it holds its limits; until then it waits here, holding no worker slot. */
  private dispatchLimited(message: TaskMessage, limits: LimitRef[], at: number): void {
    const holder = message.dispatchId;
    this.gated.add(holder);
    this.d.limits.request({ holder, limits, priority: message.priority ?? 3, since: at }, () => {
      this.gated.delete(holder);
      if (this.stopped || !this.inFlight(holder)) {
        this.d.limits.release(holder);
        return;
      }
      this.holding.add(holder);
      this.telemetry.dispatching(message);
      this.outbox.dispatch(message);
    });
  }

  private inFlight(dispatchId: string): boolean {
    return this.state.attempts.has(dispatchId) && !this.state.verdicts.has(dispatchId);
  }

  /** Give back the limits of attempts that are over (or will never be sent). */
  private settleLimits(): void {
    if (this.gated.size === 0 && this.holding.size === 0) return;
    for (const set of [this.gated, this.holding]) {
      for (const holder of set) {
        if (this.inFlight(holder) && !this.stopped) continue;
        set.delete(holder);
        this.d.limits.release(holder);
      }
    }
  }

  private onReport(seq: number, message: ReportSubjectMessage): void {
    if (this.stopped || seq <= this.state.through) return;
    if (message.runId !== this.runId) return;
    if (message.kind === "signal") {
      this.onSignal(seq, message);
      return;
    }
    if (message.kind === "child") {
      this.onChildEnd(seq, message);
      return;
    }
    const report = message;
    const event = reportEvent(seq, report);
    const refusedBefore = this.state.refused;
    evolve(this.state, event);
    if (this.state.refused !== refusedBefore) {
      this.d.log.debug({ dispatchId: report.dispatchId, seq }, "report refused: not for a current attempt of this run, or a wrong token");
      return;
    }
    this.feed.push(event);
    this.telemetry.reported(event);
    this.heard.delete(report.dispatchId);
    // The attempt ended on its worker: its limits are free for the next one.
    if (this.holding.delete(report.dispatchId)) this.d.limits.release(report.dispatchId);
    this.step({ type: "report", dispatchId: report.dispatchId });
  }

  /** A signal was stored for this run: fold it (a repeated id is refused by the fold) and let the decider consume it. */
  private onSignal(seq: number, signal: SignalMessage): void {
    const event = reportEvent(seq, signal);
    const refusedBefore = this.state.refused;
    evolve(this.state, event);
    if (this.state.refused !== refusedBefore) {
      this.d.log.info({ signal: signal.name, id: signal.id, seq }, "signal ignored: its id was applied already, or the run has ended");
      return;
    }
    this.feed.push(event);
    this.step({ type: "signal", seq });
  }

  /** A child run's end was stored on this run: fold it and let the decider settle the node waiting for it. */
  private onChildEnd(seq: number, message: ChildEndedMessage): void {
    const event = reportEvent(seq, message);
    evolve(this.state, event);
    this.feed.push(event);
    this.step({ type: "child", seq });
  }

  /** This run is a child: store its end on its parent's report subject (children.ts). A failure is logged; the parent's takeover asks again. */
  private async reportEnd(): Promise<void> {
    const r = this.state.record;
    if (!r.parent || !isFinished(this.state)) return;
    try {
      await this.d.transport.appendChildEnd(childEndedOf(r, r.parent.runId, this.d.clock.now()));
    } catch (err) {
      this.d.log.error({ err, parent: r.parent.runId }, `child run "${this.runId}" ended but its end could not be stored on parent run "${r.parent.runId}"; the parent's coordinator finds it when it checks on its children (child-watch.ts)`);
    }
  }

  private onLive(signal: LiveSignal): void {
    if (this.stopped || !applyLive(this.state, signal)) return;
    const now = this.d.clock.now();
    this.heard.set(signal.dispatchId, now);
    this.feed.push(signal);
    // The start by this clock: now, less the time run so far as the worker measured it (skew-free, never earlier than the real start).
    const known = this.state.attempts.get(signal.dispatchId)?.startedAt;
    const restart = signal.type === "attempt.started";
    if (known !== undefined && !restart) return;
    const ran = signal.startedAt === undefined ? (restart ? 0 : undefined) : Math.max(0, signal.at - signal.startedAt);
    if (ran !== undefined) this.step({ type: "started", dispatchId: signal.dispatchId, startedAt: now - ran });
  }

  private arm(key: string, at: number): void {
    // Watchdogs come due in the order they were armed (dispatch time + one window), so they
    // share one timer: a FIFO whose head is the next due. One that would come due before
    // the tail (a re-arm after a heartbeat) gets a timer of its own instead.
    if (key.startsWith(WATCHDOG) && at >= this.fifoTail) {
      this.timersFifo.delete(key);
      this.timersFifo.set(key, at);
      this.fifoTail = at;
      this.scheduleFifo();
      return;
    }
    this.disarm(key);
    const ms = Math.max(0, at - this.d.clock.now());
    this.timers.set(
      key,
      this.d.clock.setTimeout(() => {
        this.timers.delete(key);
        this.fire(key);
      }, ms),
    );
  }

  private fire(key: string): void {
    const dispatchId = key.slice(key.indexOf(":") + 1);
    // An attempt waiting for its limits is not lost: its watchdog starts once it is sent.
    if (key.startsWith(WATCHDOG) && this.gated.has(dispatchId)) {
      this.arm(key, this.d.clock.now() + this.d.settings.watchdogMs);
      return;
    }
    this.step({ type: "timer", key, lastHeardAt: this.heard.get(dispatchId) });
  }

  private disarm(key: string): void {
    if (this.timersFifo.delete(key)) return;
    const h = this.timers.get(key);
    if (h === undefined) return;
    this.d.clock.clearTimeout(h);
    this.timers.delete(key);
  }

  private scheduleFifo(): void {
    if (this.fifoTimer !== undefined || this.stopped) return;
    const head = this.timersFifo.values().next();
    if (head.done === true) return;
    this.fifoTimer = this.d.clock.setTimeout(() => {
      this.fifoTimer = undefined;
      const now = this.d.clock.now();
      for (const [key, at] of this.timersFifo) {
        if (at > now) break;
        this.timersFifo.delete(key);
        this.fire(key);
        if (this.stopped) return;
      }
      if (this.timersFifo.size === 0) this.fifoTail = 0;
      this.scheduleFifo();
    }, Math.max(0, head.value - this.d.clock.now()));
  }

  /** A task message was not sent: fail its task (too large, not JSON) or stop the run (the wire is down). */
  private dispatchFailed(message: TaskMessage, err: unknown): void {
    if (this.stopped) return;
    if (err instanceof PhaseflowError && !err.retryable) {
      this.step({ type: "undeliverable", dispatchId: message.dispatchId, error: serializeError(err) });
      return;
    }
    this.break(err);
  }

  private async finish(): Promise<void> {
    if (this.stopped) return;
    await this.outbox.idle();
    if (this.stopped) return;
    // Fault tests only (tests/faults/children.test.ts): die exactly between storing a child's end in its history and on its parent.
    if (this.state.record.parent && process.env.PHASEFLOW_FAULT_KILL_BEFORE_CHILD_END === "1") process.kill(process.pid, "SIGKILL");
    // Our end is stored: now tell the parent, if any (after, so the parent never learns of an end the child's history lacks).
    await this.reportEnd();
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.settleLimits();
    await this.unsubscribe();
    this.feed.end(runRecordOf(this.state));
    this.telemetry.stopped("finished");
    this.d.onStop(this);
    for (const w of this.endWaiters.splice(0)) w();
  }

  private lost(err: unknown): void {
    if (err instanceof FencedError) {
      this.d.log.warn({ runId: this.runId }, "another coordinator holds this run now (our decision was fenced); letting it go");
      this.stopWith(new RunReleasedError(this.runId), "released");
    } else {
      this.stopWith(err instanceof Error ? err : new CoordinatorError("store the run's decisions", err, { retryable: false }), "broken");
    }
  }

  /** The engine broke under this run: stop, and reject result(). */
  break(err: unknown): void {
    if (this.stopped) return;
    this.d.log.error({ err, runId: this.runId }, `run "${this.runId}" stopped: the coordinator failed under it`);
    this.stopWith(err instanceof Error ? err : new CoordinatorError("drive the run", err, { retryable: false }), "broken");
  }

  /** Another coordinator drives the run now: stop at once, publishing nothing more. */
  release(): void {
    if (this.stopped) return;
    this.stopWith(new RunReleasedError(this.runId), "released");
  }

  /** The coordinator is closing: stop without sending anything more. */
  abandon(): void {
    if (this.stopped) return;
    this.stopWith(new EngineClosedError(this.runId), "released");
  }

  private stopWith(err: Error, kind: StopKind): void {
    if (this.stopped) return;
    this.stopped = true;
    this.outbox.close();
    this.clearTimers();
    this.dropLimits(kind);
    void this.unsubscribe();
    this.telemetry.stopped(kind, err);
    this.feed.fail(err);
    this.d.onStop(this);
    for (const w of this.endWaiters.splice(0)) w();
  }

  /**
   * Stopped without finishing. Waiting attempts were never sent: their places go. Attempts
   * sent are still in flight when another coordinator took the run over (it keeps their
   * holdings alive), so they are only forgotten; otherwise they are given back.
   */
  private dropLimits(kind: StopKind): void {
    for (const holder of this.gated) this.d.limits.release(holder);
    this.gated.clear();
    for (const holder of this.holding) {
      if (kind === "released") this.d.limits.forget(holder);
      else this.d.limits.release(holder);
    }
    this.holding.clear();
  }

  private clearTimers(): void {
    for (const h of this.timers.values()) this.d.clock.clearTimeout(h);
    this.timers.clear();
    this.timersFifo.clear();
    if (this.fifoTimer !== undefined) this.d.clock.clearTimeout(this.fifoTimer);
    this.fifoTimer = undefined;
  }

  private async unsubscribe(): Promise<void> {
    const subs = [this.reports, this.live];
    this.reports = this.live = undefined;
    for (const s of subs) {
      if (!s) continue;
      await s.stop().catch((err: unknown) => this.d.log.warn({ err, runId: this.runId }, "could not stop a run subscription"));
    }
  }

  get finished(): boolean {
    return this.stopped;
  }

  result(): Promise<RunRecord> {
    return this.feed.settled;
  }

  status(): RunRecord {
    const record = runRecordOf(this.state, { snapshot: true });
    if (this.gated.size > 0) {
      for (const t of record.tasks) {
        const waits = t.dispatchId !== undefined && this.gated.has(t.dispatchId) ? this.d.limits.waitingFor(t.dispatchId) : undefined;
        if (waits !== undefined) t.waitingFor = `waiting for ${waits}`;
      }
    }
    return record;
  }

  summary(): RunSummary {
    return summaryOf(this.state);
  }

  events(): AsyncIterable<RunEvent> {
    return this.feed.events();
  }

  updates(): AsyncIterable<RunUpdate> {
    return this.feed.updates();
  }

  on(listener: (event: RunEvent) => void): () => void {
    return this.feed.on(listener);
  }

  /**
   * Move the run onto the plan with this hash (its model known to the state: upgrade.ts);
   * resolves once the move is stored. The caller checked it is compatible.
   * @throws RunReleasedError or the store's error when the move could not be stored
   */
  async upgrade(planHash: string): Promise<void> {
    if (this.stopped) throw new RunReleasedError(this.runId);
    const before = this.state.record.planHash;
    this.step({ type: "upgrade", planHash });
    await this.outbox.idle();
    if (this.state.record.planHash === before) throw new CoordinatorError("upgrade the run", new Error(`the run stayed on plan ${before.slice(0, 12)}`), { retryable: false });
    // Closed while storing: the move may not be in the history; the result says why.
    if (this.stopped && !isFinished(this.state)) await this.feed.settled;
  }

  async cancel(reason = "cancelled by request"): Promise<void> {
    if (!this.stopped) {
      const ended = new Promise<void>((resolve) => this.endWaiters.push(resolve));
      this.step({ type: "cancel", reason });
      await ended;
    }
  }
}
