/**
 * Following one run to its end, the same way whether it runs embedded or on a
 * fleet: read its events, fold them into the run record, hand both to the view,
 * and return the final record.
 *
 * Ctrl-C (SIGINT, or SIGTERM) depends on who owns the run. An embedded run lives in
 * this process, so it is cancelled, and following goes on until the cancel lands (the
 * summary shows what was cancelled); a second Ctrl-C stops waiting at once. A fleet
 * run lives on without us: Ctrl-C only stops following (`onInterrupt: "detach"`).
 */
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import { createRecordFold, snapshotRunRecord } from "../runtime/core/run-record.js";
import type { RunUpdate } from "../transport/messages.js";

/** A started run, embedded or remote. */
export interface RunSession {
  readonly runId: string;
  /** What Ctrl-C does: cancel the run (this process owns it) or stop following it (it lives elsewhere). */
  readonly onInterrupt: "cancel" | "detach";
  /** Every event of the run from its start, with its live signals, live; ends after the run's terminal event. */
  events(): AsyncIterable<RunUpdate>;
  /** Ask for the run to be cancelled. */
  cancel(reason: string): Promise<void>;
  /** The final record once the events ended (`folded` is the record built from them). */
  result(folded: RunRecord): Promise<RunRecord>;
  /** Release the engine or the connection. */
  close(): Promise<void>;
}

/** Where the run's progress goes while it is followed. */
export interface RunObserver {
  /** An event arrived; `record` already includes it (read it, do not keep it: it changes). */
  event(record: RunRecord, event: RunUpdate): void;
  /** Something the user should know (cancelling, waiting for workers). */
  notice(text: string): void;
}

/** Calls `onInterrupt` for each interrupt until the returned function is called. */
export type InterruptSource = (onInterrupt: () => void) => () => void;

/**
 * SIGINT and SIGTERM of this process. While listening, they no longer end the process,
 * and the process stays alive: an executor that awaits something holding no handle
 * (or a run waiting for workers) must not let Node exit mid-run with an unsettled await.
 */
export const processInterrupts: InterruptSource = (onInterrupt) => {
  const handler = (): void => onInterrupt();
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return () => {
    clearInterval(keepAlive);
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
};

export interface FollowOutcome {
  /** The final record; when `abandoned`, the record as far as it was seen. */
  record: RunRecord;
  /** Ctrl-C was pressed (the run was cancelled, or following stopped for a detached session). */
  interrupted: boolean;
  /** The user stopped waiting (a second interrupt) before the run ended. */
  abandoned: boolean;
}

export const CANCEL_REASON = "cancelled from the command line (Ctrl-C)";

/**
 * Follow `session` to the end of its run.
 * @example
 * const outcome = await followRun(session, { event: (r) => draw(r), notice: (t) => console.error(t) });
 * outcome.record.status // "succeeded"
 */
export async function followRun(session: RunSession, observer: RunObserver, interrupts: InterruptSource = processInterrupts): Promise<FollowOutcome> {
  const fold = createRecordFold(session.runId);
  const record = fold.state.record;
  let count = 0;
  let abandon: () => void = () => undefined;
  const abandoned = new Promise<"abandoned">((resolve) => (abandon = () => resolve("abandoned")));
  const stopListening = interrupts(() => {
    count += 1;
    if (count > 1 || session.onInterrupt === "detach") {
      abandon();
      return;
    }
    observer.notice(`cancelling run ${session.runId} (press Ctrl-C again to stop waiting)`);
    session.cancel(CANCEL_REASON).catch((err: unknown) => {
      observer.notice(`cancelling run ${session.runId} failed: ${err instanceof Error ? err.message : String(err)}; press Ctrl-C again to stop waiting`);
    });
  });
  try {
    const iterator = session.events()[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([iterator.next(), abandoned]);
      if (next === "abandoned") {
        // Not awaited: a generator busy in next() only returns after it; close() ends it.
        iterator.return?.().catch(() => undefined);
        return { record: snapshotRunRecord(record), interrupted: true, abandoned: true };
      }
      if (next.done === true) break;
      fold.apply(next.value);
      observer.event(record, next.value);
    }
    const final = await Promise.race([session.result(snapshotRunRecord(record)), abandoned]);
    if (final === "abandoned") return { record: snapshotRunRecord(record), interrupted: true, abandoned: true };
    return { record: final, interrupted: count > 0, abandoned: false };
  } finally {
    stopListening();
  }
}
