/**
 * What a run handle shows of its run: the history seen so far, the run record folded
 * from it, live listeners and iterators, and the result promise. Kept apart from the
 * driving (coordinator-run.ts) so that the handle side has one job: reflect the events
 * exactly as the transport delivered them.
 *
 * The run's end is its last terminal event (run.succeeded/failed/cancelled) that no
 * run.retried follows: a partial re-run takes an ended run up again in the same
 * history, so a run.retried clears the end.
 */
import type { Logger } from "../registry/types.js";
import type { RunEvent } from "../transport/messages.js";
import { applyRunEvent, emptyRunRecord, snapshotRunRecord } from "./run-record.js";
import type { RunRecord } from "./run-record-schema.js";

const TERMINAL_TYPES = new Set<RunEvent["type"]>(["run.succeeded", "run.failed", "run.cancelled"]);

export class RunFeed {
  readonly record: RunRecord;
  readonly history: RunEvent[] = [];
  /** Resolves with the final record; rejects when the run stops being driven here. */
  readonly settled: Promise<RunRecord>;
  private endIndex: number | undefined;
  private failure: Error | undefined;
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private waiters: (() => void)[] = [];
  private resolveResult!: (r: RunRecord) => void;
  private rejectResult!: (e: unknown) => void;

  constructor(
    runId: string,
    private readonly log: Logger,
    /** Called once, when the run ended or stopped. */
    private readonly onEnd: () => void,
  ) {
    this.record = emptyRunRecord(runId);
    this.settled = new Promise<RunRecord>((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // Callers may never ask for the result; a broken run must not become an unhandled rejection.
    this.settled.catch(() => undefined);
  }

  /** The run's terminal event was seen (and no run.retried after it). */
  get ended(): boolean {
    return this.endIndex !== undefined;
  }

  /** Why the run stopped being driven here, if it did. */
  get stopped(): Error | undefined {
    return this.failure;
  }

  /**
   * Take a history as already seen, telling no listener. With `retrying`, its end
   * does not end the feed: a run.retried is about to follow.
   */
  seed(events: readonly RunEvent[], retrying: boolean): void {
    for (const e of events) this.append(e);
    if (retrying) this.endIndex = undefined;
    if (this.endIndex !== undefined) this.finish();
  }

  /** One more event of the run: fold it, tell listeners and iterators, settle on the run's end. */
  push(event: RunEvent): void {
    this.append(event);
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log.warn({ err }, "a run event listener threw; listeners should not throw");
      }
    }
    this.wake();
    if (this.endIndex === this.history.length - 1) this.finish();
  }

  /** The run stops being driven here: result() rejects with `err`, iterators throw it. */
  fail(err: Error): void {
    this.failure = err;
    this.onEnd();
    this.rejectResult(err);
    this.wake();
  }

  on(listener: (event: RunEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): RunRecord {
    return snapshotRunRecord(this.record);
  }

  events(): AsyncIterable<RunEvent> {
    return {
      [Symbol.asyncIterator]: () => {
        let i = 0;
        return {
          next: async (): Promise<IteratorResult<RunEvent>> => {
            for (;;) {
              if (this.endIndex !== undefined && i > this.endIndex) return { done: true, value: undefined };
              const event = this.history[i];
              if (event !== undefined) {
                i += 1;
                return { done: false, value: event };
              }
              if (this.failure !== undefined) throw this.failure;
              await new Promise<void>((resolve) => this.waiters.push(resolve));
            }
          },
          return: (): Promise<IteratorResult<RunEvent>> => Promise.resolve({ done: true, value: undefined }),
        };
      },
    };
  }

  private append(event: RunEvent): void {
    this.history.push(event);
    applyRunEvent(this.record, event);
    if (event.type === "run.retried") this.endIndex = undefined;
    else if (TERMINAL_TYPES.has(event.type) && this.endIndex === undefined) this.endIndex = this.history.length - 1;
  }

  private finish(): void {
    this.resolveResult(snapshotRunRecord(this.record));
    this.onEnd();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
