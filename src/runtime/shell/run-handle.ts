/**
 * What a caller holds of a run: its record now, its events as they are folded, and
 * the result. The handle only reflects what the shell folded; it decides nothing.
 */
import { isLiveSignal, type RunEvent, type RunUpdate } from "../../transport/messages.js";
import type { Logger } from "../../registry/types.js";
import type { RunRecord, RunSummary } from "../core/run-record-schema.js";

/** A started run. */
export interface RunHandle {
  readonly runId: string;
  /** The final run record, for succeeded, failed and cancelled runs alike; rejects only if the engine breaks or the run moves to another coordinator. */
  result(): Promise<RunRecord>;
  /** Cancel the run (no-op once it finished); resolves when it has ended. */
  cancel(reason?: string): Promise<void>;
  /** A snapshot of the run record now. */
  status(): RunRecord;
  /** The run's status and task counts now, without its task records (cheap for a map of many instances). */
  summary(): RunSummary;
  /** Every event of the run from the start, live; ends after the run's end. */
  events(): AsyncIterable<RunEvent>;
  /** The same, with the run's live signals (attempts running, progress, heartbeats) in between: what a progress display shows. */
  updates(): AsyncIterable<RunUpdate>;
  /** Call `listener` for each further event of the run; returns an unsubscribe function. */
  on(listener: (event: RunEvent) => void): () => void;
}

/** The listeners, iterators and result promise of one run. */
export class RunFeed {
  readonly settled: Promise<RunRecord>;
  private readonly history: RunUpdate[] = [];
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private waiters: (() => void)[] = [];
  private done = false;
  private failure: Error | undefined;
  private resolve!: (r: RunRecord) => void;
  private reject!: (e: unknown) => void;

  /** @param keepHistory keep every event for `events()` iterators (a fleet coordinator keeps none, to bound its memory) */
  constructor(
    private readonly log: Logger,
    private readonly keepHistory = true,
  ) {
    this.settled = new Promise<RunRecord>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // Callers may never ask for the result; a broken run must not become an unhandled rejection.
    this.settled.catch(() => undefined);
  }

  get finished(): boolean {
    return this.done || this.failure !== undefined;
  }

  /** Events folded before this handle existed (resume): seen by iterators, not by listeners. */
  seed(events: Iterable<RunEvent>): void {
    if (this.keepHistory) for (const e of events) this.history.push(e);
  }

  push(event: RunUpdate): void {
    if (this.keepHistory) this.history.push(event);
    if (!isLiveSignal(event)) {
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch (err) {
          this.log.warn({ err }, "a run event listener threw; listeners should not throw");
        }
      }
    }
    this.wake();
  }

  /** The run ended: resolve with its final record. */
  /** The run ended: resolve with its final record (no copy: nothing changes a finished run's record; treat it as read-only). */
  end(record: RunRecord): void {
    if (this.finished) return;
    this.done = true;
    this.resolve(record);
    this.wake();
  }

  /** The run stops being driven here: result() rejects, iterators throw. */
  fail(err: Error): void {
    if (this.finished) return;
    this.failure = err;
    this.reject(err);
    this.wake();
  }

  on(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  events(): AsyncIterable<RunEvent> {
    return this.iterate((u): u is RunEvent => !isLiveSignal(u));
  }

  updates(): AsyncIterable<RunUpdate> {
    return this.iterate((_u): _u is RunUpdate => true);
  }

  private iterate<T extends RunUpdate>(keep: (u: RunUpdate) => u is T): AsyncIterable<T> {
    return {
      [Symbol.asyncIterator]: () => {
        let i = 0;
        return {
          next: async (): Promise<IteratorResult<T>> => {
            for (;;) {
              const event = this.history[i];
              if (event !== undefined) {
                i += 1;
                if (keep(event)) return { done: false, value: event };
                continue;
              }
              if (this.done) return { done: true, value: undefined };
              if (this.failure !== undefined) throw this.failure;
              await new Promise<void>((resolve) => this.waiters.push(resolve));
            }
          },
          return: (): Promise<IteratorResult<T>> => Promise.resolve({ done: true, value: undefined }),
        };
      },
    };
  }

  /** Drop the event history (a finished run kept only for its record). */
  forget(): void {
    this.history.length = 0;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
