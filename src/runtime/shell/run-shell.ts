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
import { storeChildEnd, type ChildRuns } from "./child-runs.js";
import type { Subscription, Transport } from "../../transport/port.js";
import type { Clock } from "../../support/clock.js";
import { decide, type DecideRandom, type DecideSettings, type Effect, type Trigger } from "../core/decide.js";
import { reportEvent } from "../core/history.js";
import { startHeardOf, unstartedAttempts, type UnstartedAttempt } from "../core/attempt-timers.js";
import { RunFeed, type RunHandle } from "./run-handle.js";
import { runRecordOf, summaryOf, type RunSummary } from "../core/run-record.js";
import { RunOutbox } from "./run-outbox.js";
import { RunTelemetry, type StopKind } from "./run-telemetry.js";
import type { RunRecord } from "../core/run-record-schema.js";
import { evolve, isFinished, liveSignalApplies, type RunState } from "../core/run-state.js";
import type { LimitGate } from "./limit-gate.js";
import { RunLimitHolds } from "./run-limit-holds.js";
import { dispatchIdOfKey, RunTimers, WATCHDOG } from "./run-timers.js";
import type { PayloadCache } from "./payload-cache.js";
import type { PayloadRef } from "../../transport/payloads.js";
import { fetchForDecider } from "./payload-fetch.js";

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
  /** Payloads fetched for the decider's user functions, shared by every run of the coordinator (payload-cache.ts). */
  payloadCache: PayloadCache;
}

export class RunShell implements RunHandle {
  readonly runId: string;
  private readonly feed: RunFeed;
  private readonly outbox: RunOutbox;
  private readonly timers: RunTimers;
  private readonly heard = new Map<string, number>();
  /** This run's reports and live signals. */
  private subs: Subscription[] = [];
  private stopped = false;
  private readonly endWaiters: (() => void)[] = [];
  private readonly telemetry: RunTelemetry;
  private readonly holds: RunLimitHolds;

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
    this.timers = new RunTimers(d.clock, (key) => this.fire(key));
    this.holds = new RunLimitHolds(d.limits, (dispatchId) => !this.stopped && this.inFlight(dispatchId));
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
      this.subs.push(await this.d.transport.subscribeReports(this.runId, after, (seq, report) => this.onReport(seq, report)));
      this.subs.push(await this.d.transport.subscribeLive(this.runId, (signal) => this.onLive(signal)));
      if (this.stopped) {
        await this.unsubscribe();
        return;
      }
      this.holds.adopt(this.state, (dispatchId) =>
        this.step({ type: "lost", dispatchId, reason: "the coordinator that dispatched it stopped while it waited for its task limits, so it was never sent" }),
      );
      this.step(this.telemetry.begin(trigger));
    } catch (err) {
      this.break(err);
    }
  }

  /**
   * Attempts dispatched at or before `before` (epoch ms) with nothing heard of them since:
   * no start, no report. The transport's `msgID` of each is `dispatchId@epoch`.
   */
  unstarted(before: number): UnstartedAttempt[] {
    // Before the claim is stored, this holder's task messages are held back, not lost.
    if (this.stopped || !this.outbox.sending) return [];
    return unstartedAttempts(this.state, before, (dispatchId) => this.heard.has(dispatchId) || this.holds.waiting(dispatchId));
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
    if (trigger.type !== "report" && trigger.type !== "started") this.holds.settle();
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
          if (fx.limits !== undefined && fx.limits.length > 0) {
            // Sent once it holds its limits; until then it waits here, holding no worker slot.
            const message = fx.message;
            this.holds.request(message, fx.limits, at, () => this.send(message));
          } else this.send(fx.message);
          break;
        case "control":
          cancels = true;
          this.outbox.control(fx.message);
          break;
        case "timer":
          this.timers.arm(fx.key, fx.at);
          break;
        case "cancelTimer":
          this.timers.disarm(fx.key);
          break;
        case "startChild":
          this.d.children.start(fx.start);
          break;
        case "cancelChild":
          this.d.children.cancel(fx.runId, fx.reason);
          break;
        case "resolve":
          void this.fetchPayloads(fx.refs);
          break;
      }
    }
    if (cancels) this.holds.settle();
    if (isFinished(this.state)) void this.finish();
  }

  private send(message: TaskMessage): void {
    this.telemetry.dispatching(message);
    this.outbox.dispatch(message);
  }

  private inFlight(dispatchId: string): boolean {
    return this.state.attempts.has(dispatchId) && !this.state.verdicts.has(dispatchId);
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
    if (!this.fold(event)) {
      this.d.log.debug({ dispatchId: report.dispatchId, seq }, "report refused: not for a current attempt of this run, or a wrong token");
      return;
    }
    this.telemetry.reported(event);
    this.heard.delete(report.dispatchId);
    this.holds.reported(report.dispatchId);
    this.step({ type: "report", dispatchId: report.dispatchId });
  }

  /** A signal was stored for this run: fold it (a repeated id is refused by the fold) and let the decider consume it. */
  private onSignal(seq: number, signal: SignalMessage): void {
    if (!this.fold(reportEvent(seq, signal))) {
      this.d.log.info({ signal: signal.name, id: signal.id, seq }, "signal ignored: its id was applied already, or the run has ended");
      return;
    }
    this.step({ type: "signal", seq });
  }

  /**
   * A guard, route, map `items` or other user function reads payloads not fetched yet:
   * fetch them, then let the decider go on (`resolved`). A payload that cannot be had
   * (gone, corrupt, or the store unreachable after a few tries) fails the run, naming it.
   */
  private async fetchPayloads(refs: readonly PayloadRef[]): Promise<void> {
    const got = await fetchForDecider({ payloads: this.d.transport.payloads, cache: this.d.payloadCache, clock: this.d.clock, log: this.d.log, stopped: () => this.stopped }, refs);
    if (got === "fetched") this.step({ type: "resolved" });
    else if (got !== "stopped") this.step({ type: "fail", error: serializeError(got.error) });
  }

  /** A child run's end was stored on this run: fold it and let the decider settle the node waiting for it. */
  private onChildEnd(seq: number, message: ChildEndedMessage): void {
    this.fold(reportEvent(seq, message));
    this.step({ type: "child", seq });
  }

  /** Fold a stored message into the run's state and show it; false when the fold refused it (it changed nothing). */
  private fold(event: RunEvent): boolean {
    const refusedBefore = this.state.refused;
    evolve(this.state, event);
    if (this.state.refused !== refusedBefore) return false;
    this.feed.push(event);
    return true;
  }

  private onLive(signal: LiveSignal): void {
    if (this.stopped || !liveSignalApplies(this.state, signal)) return;
    evolve(this.state, signal);
    const now = this.d.clock.now();
    this.heard.set(signal.dispatchId, now);
    this.feed.push(signal);
    const startedAt = startHeardOf(signal, this.state.attempts.get(signal.dispatchId)?.startedAt, now);
    if (startedAt !== undefined) this.step({ type: "started", dispatchId: signal.dispatchId, startedAt });
  }

  private fire(key: string): void {
    const dispatchId = dispatchIdOfKey(key);
    // An attempt waiting for its limits is not lost: its watchdog starts once it is sent.
    if (key.startsWith(WATCHDOG) && this.holds.waiting(dispatchId)) {
      this.timers.arm(key, this.d.clock.now() + this.d.settings.watchdogMs);
      return;
    }
    this.step({ type: "timer", key, lastHeardAt: this.heard.get(dispatchId) });
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
    // Our end is stored: now tell the parent, if any (child-runs.ts).
    await storeChildEnd(this.d.transport, this.state.record, this.d.clock.now(), this.d.log);
    if (this.stopped) return;
    this.stopped = true;
    this.timers.close();
    this.holds.settle();
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
    this.outbox.close(err);
    this.timers.close();
    this.holds.drop(kind);
    void this.unsubscribe();
    this.telemetry.stopped(kind, err);
    this.feed.fail(err);
    this.d.onStop(this);
    for (const w of this.endWaiters.splice(0)) w();
  }

  private async unsubscribe(): Promise<void> {
    for (const s of this.subs.splice(0)) {
      await s.stop().catch((err: unknown) => this.d.log.warn({ err, runId: this.runId }, "could not stop a run subscription"));
    }
  }

  get finished(): boolean {
    return this.stopped;
  }

  result(): Promise<RunRecord> {
    return this.feed.settled;
  }

  /** Resolves once this holder's claim on the run is stored; rejects with why the run stopped before (run-outbox.ts). */
  claimStored(): Promise<void> {
    return this.outbox.claimStored();
  }

  status(): RunRecord {
    return this.holds.annotate(runRecordOf(this.state, { snapshot: true }));
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
