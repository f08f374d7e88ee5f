/**
 * Run histories of the memory hub, like the <P>_EVENTS stream: one sequence counter
 * per hub (so a seq orders messages across runs, as a stream sequence does), one
 * append-only log per run of decisions and reports, fencing on each run's last
 * decision seq (like Nats-Expected-Last-Subject-Sequence on `<p>.evt.<runId>.d`),
 * and followers that get every entry after a seq, then each new one, in order,
 * asynchronously through the hub's drain.
 *
 * Histories live as long as the hub unless deleted (`delete`, retention/prune).
 */
import { FencedError } from "../../errors/base.js";
import type { Subscription } from "../port.js";
import type { Drain } from "./drain.js";
import type { Payload } from "./wire.js";

export type EntryKind = "decision" | "report";

export interface Entry {
  readonly seq: number;
  readonly kind: EntryKind;
  readonly payload: Payload;
}

interface RunLog {
  entries: Entry[];
  lastDecisionSeq: number;
  readonly followers: Set<Follower>;
}

class Follower implements Subscription {
  /** Index of the next entry of `log.entries` to look at. */
  pos = 0;
  active = true;
  private scheduled = false;

  constructor(
    private readonly store: HistoryStore,
    readonly runId: string,
    readonly log: RunLog,
    private readonly afterSeq: number,
    private readonly kinds: ReadonlySet<EntryKind>,
    private readonly onEntry: (entry: Entry) => void,
    private readonly drain: Drain,
  ) {}

  wake(): void {
    if (this.scheduled || !this.active) return;
    this.scheduled = true;
    this.drain.schedule(() => this.pump());
  }

  stop(): Promise<void> {
    this.active = false;
    this.store.unfollow(this);
    return Promise.resolve();
  }

  private pump(): void {
    this.scheduled = false;
    const entries = this.log.entries;
    while (this.active && this.pos < entries.length) {
      const entry = entries[this.pos++];
      if (entry !== undefined && entry.seq > this.afterSeq && this.kinds.has(entry.kind)) this.onEntry(entry);
    }
  }
}

export class HistoryStore {
  private seq = 0;
  private readonly runs = new Map<string, RunLog>();

  constructor(private readonly drain: Drain) {}

  /** Runs with a stored history. */
  get size(): number {
    let n = 0;
    for (const log of this.runs.values()) if (log.entries.length > 0) n++;
    return n;
  }

  /** Store a decision if the run's last decision is at `expectedLastSeq`; throws `FencedError` otherwise. */
  appendDecision(runId: string, expectedLastSeq: number, payload: Payload): number {
    const log = this.log(runId);
    if (log.lastDecisionSeq !== expectedLastSeq) throw new FencedError(runId, expectedLastSeq);
    return this.append(log, "decision", payload);
  }

  /** Store a report (or an injected raw message of either kind) without a fence. */
  append(log: RunLog | string, kind: EntryKind, payload: Payload): number {
    const run = typeof log === "string" ? this.log(log) : log;
    const seq = ++this.seq;
    run.entries.push({ seq, kind, payload });
    if (kind === "decision") run.lastDecisionSeq = seq;
    for (const f of run.followers) f.wake();
    return seq;
  }

  /** The run's stored entries, oldest first, and the seq of its last decision (0: none). */
  read(runId: string): { entries: readonly Entry[]; lastDecisionSeq: number } {
    const log = this.runs.get(runId);
    return log === undefined ? { entries: [], lastDecisionSeq: 0 } : { entries: log.entries.slice(), lastDecisionSeq: log.lastDecisionSeq };
  }

  /** Hand every entry of `kinds` stored after `afterSeq` to `onEntry`, then each new one, until stopped. */
  follow(runId: string, afterSeq: number, kinds: ReadonlySet<EntryKind>, onEntry: (entry: Entry) => void): Subscription {
    const log = this.log(runId);
    const follower = new Follower(this, runId, log, afterSeq, kinds, onEntry, this.drain);
    log.followers.add(follower);
    follower.wake();
    return follower;
  }

  unfollow(follower: Follower): void {
    follower.log.followers.delete(follower);
    this.forgetIfEmpty(follower.runId, follower.log);
  }

  /** Remove a run's history (its followers stay, and see what is stored from now on). */
  delete(runId: string): void {
    const log = this.runs.get(runId);
    if (log === undefined) return;
    log.entries = [];
    log.lastDecisionSeq = 0;
    for (const f of log.followers) f.pos = 0;
    this.forgetIfEmpty(runId, log);
  }

  clear(): void {
    this.runs.clear();
  }

  private log(runId: string): RunLog {
    let log = this.runs.get(runId);
    if (log === undefined) {
      log = { entries: [], lastDecisionSeq: 0, followers: new Set() };
      this.runs.set(runId, log);
    }
    return log;
  }

  private forgetIfEmpty(runId: string, log: RunLog): void {
    if (log.entries.length === 0 && log.followers.size === 0 && this.runs.get(runId) === log) this.runs.delete(runId);
  }
}
