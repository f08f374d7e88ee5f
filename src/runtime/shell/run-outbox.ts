/**
 * The decisions of one run on their way to its history: gathered while the previous
 * batch is being stored (group commit: a phase of N tasks is one stored message, split
 * only to stay under the payload limit), each batch fenced on the sequence number of
 * the run's last stored decision, and control messages held back until every event
 * decided before them is stored — so a coordinator that lost the run (its write was
 * fenced) never cancels the new holder's attempts.
 *
 * Task messages do not wait here: they go out at once, except before this holder's
 * first batch (its claim) is stored. A task whose decision never gets stored is harmless:
 * its token is in no history, so its report is refused.
 */
import { CoordinatorError, FencedError, PayloadTooLargeError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { WIRE_VERSION, type ControlMessage, type DecisionEvent, type TaskMessage } from "../../transport/messages.js";
import type { Transport } from "../../transport/port.js";

/** How often in a row a write may skip over junk on the decision subject before the run is given up. */
const MAX_JUNK_SKIPS = 100;

/** Most events in one batch; a batch the transport still finds too large is halved. */
export const MAX_BATCH_EVENTS = 2_000;

export interface OutboxDeps {
  runId: string;
  transport: Transport;
  log: Logger;
  /** The writer's identity and lease epoch. */
  by: string;
  epoch: () => number;
  /** Sequence number of the last report applied (the batch's `through`). */
  through: () => number;
  now: () => number;
  /** Sequence of the run's last stored decision when this holder took it (0: a new run). */
  lastSeq: number;
  /** A task message could not be sent (e.g. too large): the decider fails its task. */
  onDispatchFailed: (message: TaskMessage, error: unknown) => void;
  /** Fenced (another coordinator holds the run) or the store failed: stop driving the run. */
  onLost: (error: unknown) => void;
}

type Entry = { kind: "events"; through: number; at: number; events: DecisionEvent[] } | { kind: "control"; message: ControlMessage };

export class RunOutbox {
  private lastSeq: number;
  private queue: Entry[] = [];
  /** `through` when the last events were queued, to mark reports applied in between. */
  private markedThrough = 0;
  private markedAt = 0;
  private storing = false;
  private claimed = false;
  private held: TaskMessage[] = [];
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private claimWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** Why the outbox closed before its claim was stored, for those who wait for the claim. */
  private closedWith: Error | undefined;

  constructor(private readonly d: OutboxDeps) {
    this.lastSeq = d.lastSeq;
  }

  /** Queue events decided at `at` (in order) for the history. */
  events(events: readonly DecisionEvent[], at: number): void {
    if (this.closed || events.length === 0) return;
    const through = this.d.through();
    const last = this.queue[this.queue.length - 1];
    if (last?.kind === "events") {
      // Reports were applied, or time went on, since the last events of this batch: mark it.
      if (through !== this.markedThrough || at !== this.markedAt) last.events.push({ type: "through", seq: through, at });
      for (const e of events) last.events.push(e);
    } else {
      this.queue.push({ kind: "events", through, at, events: [...events] });
    }
    this.markedThrough = through;
    this.markedAt = at;
    this.pump();
  }

  /** Send a control message once everything queued before it is stored. */
  control(message: ControlMessage): void {
    if (this.closed) return;
    this.queue.push({ kind: "control", message });
    this.pump();
  }

  /** Send a task message (held until this holder's claim is stored). */
  dispatch(message: TaskMessage): void {
    if (this.closed) return;
    if (!this.claimed) {
      this.held.push(message);
      return;
    }
    this.send(message);
  }

  /** Whether this holder's claim is stored, so its task messages go out (until then they are held). */
  get sending(): boolean {
    return this.claimed;
  }

  /** Resolves once everything queued so far is stored (or the outbox closed). */
  idle(): Promise<void> {
    if (!this.storing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Resolves once this holder's claim (its first batch: the run's start, retry or resume)
   * is stored; rejects with the reason if the outbox closes before. A caller that answers
   * "accepted" only after this never acknowledges what a crash could still lose.
   */
  claimStored(): Promise<void> {
    if (this.claimed) return Promise.resolve();
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => this.claimWaiters.push({ resolve, reject }));
  }

  /** Stop storing and sending; `reason` is what waiters for the claim are told. */
  close(reason?: unknown): void {
    this.closed = true;
    this.queue = [];
    this.held = [];
    this.wakeIdle();
    if (!this.claimed && this.closedWith === undefined) {
      this.closedWith = reason instanceof Error ? reason : new CoordinatorError("store the run's claim", reason ?? new Error("the run stopped before its claim was stored"));
      const waiters = this.claimWaiters;
      this.claimWaiters = [];
      for (const w of waiters) w.reject(this.closedWith);
    }
  }

  private send(message: TaskMessage): void {
    this.d.transport.dispatch(message).catch((err: unknown) => {
      if (!this.closed) this.d.onDispatchFailed(message, err);
    });
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private pump(): void {
    if (this.storing || this.closed) return;
    const first = this.queue[0];
    if (!first) {
      this.wakeIdle();
      return;
    }
    if (first.kind === "control") {
      this.queue.shift();
      this.d.transport.publishControl(first.message).catch((err: unknown) => this.d.log.warn({ err, type: first.message.type }, "a control message could not be sent; workers may finish the attempt it meant to stop"));
      this.pump();
      return;
    }
    this.queue.shift();
    this.storing = true;
    void this.store(first).then(
      () => {
        this.storing = false;
        if (!this.claimed) {
          this.claimed = true;
          const held = this.held;
          this.held = [];
          for (const m of held) this.send(m);
          const waiters = this.claimWaiters;
          this.claimWaiters = [];
          for (const w of waiters) w.resolve();
        }
        this.pump();
      },
      (err: unknown) => {
        this.storing = false;
        if (!(err instanceof FencedError)) this.d.log.error({ err, runId: this.d.runId }, "a decision could not be stored; the run stops here and will be resumed from its history");
        this.close(err);
        this.d.onLost(err);
      },
    );
  }

  /** Junk on the decision subject moves the fence too: skip over it, at most this often in a row. */
  private junkSkips = 0;

  /**
   * The fence moved: by another coordinator's decision (we lost the run), or only by
   * messages no reader folds (malformed, or naming another run), which must not stall
   * the run. In that case take the new position and write again.
   */
  private async onlyJunkSince(): Promise<boolean> {
    if (this.junkSkips >= MAX_JUNK_SKIPS) return false;
    const { messages, lastDecisionSeq } = await this.d.transport.readHistory(this.d.runId);
    const valid = messages.some((m) => m.seq > this.lastSeq && m.message.kind === "decision");
    if (valid || lastDecisionSeq <= this.lastSeq) return false;
    this.junkSkips++;
    this.d.log.warn({ runId: this.d.runId, from: this.lastSeq, to: lastDecisionSeq }, "messages that are not decisions were stored on this run's decision subject; writing after them");
    this.lastSeq = lastDecisionSeq;
    return true;
  }

  private async store(entry: { through: number; at: number; events: DecisionEvent[] }): Promise<void> {
    const { events } = entry;
    let { through, at } = entry;
    for (let i = 0; i < events.length; ) {
      let n = Math.min(MAX_BATCH_EVENTS, events.length - i);
      for (;;) {
        const chunk = events.slice(i, i + n);
        try {
          this.lastSeq = await this.d.transport.appendDecision(
            { v: WIRE_VERSION, kind: "decision", runId: this.d.runId, by: this.d.by, epoch: this.d.epoch(), through, at, events: chunk },
            this.lastSeq,
          );
          this.junkSkips = 0;
          break;
        } catch (err) {
          if (err instanceof PayloadTooLargeError && n > 1) {
            n = Math.ceil(n / 2);
            continue;
          }
          if (err instanceof FencedError && (await this.onlyJunkSince())) continue;
          throw err;
        }
      }
      // The next chunk starts where this one's markers left `through`.
      for (let k = i; k < i + n; k++) {
        const e = events[k]!;
        if (e.type === "through") {
          through = e.seq;
          at = e.at;
        }
      }
      i += n;
    }
  }
}
