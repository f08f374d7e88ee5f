/**
 * Nothing stuck on the server: the tasks stream is a work queue, so a message
 * nobody acks or terminates stays in it for good — a task of a run that finished,
 * was pruned or never existed (forged), one with ids that do not fit together, one
 * that does not parse, or one whose max-deliveries advisory no coordinator was up
 * to see. Every `sweepMs` one coordinator (whichever runs the sweep first; it is
 * idempotent) looks at the oldest messages of the stream, those stored more than
 * `sweepMs` ago, and deletes the ones no run can use: malformed, bad ids, or of a
 * run without an active mark (unknown or finished). Each is logged and counted in
 * the coordinator's `undeliverable` stat. Tasks of active runs are left alone: a
 * worker for their namespace may come, and their run's watchdog and the
 * max-deliveries watcher own them.
 */
import type { TaskStreamPort } from "../transport/fleet-port.js";
import { undeliverableReason } from "../transport/messages.js";
import type { Logger } from "../registry/types.js";
import { activeKey, isUnfinished, runKey, type RunStoreKv } from "./run-store.js";

/** Default sweep period, and the age a task message must reach before it is looked at. */
export const DEFAULT_TASK_SWEEP_MS = 60_000;
/** Most messages looked at per sweep (oldest first). */
const SWEEP_BATCH = 1_000;

export interface TaskSweeper {
  /** One sweep now; resolves with how many messages it deleted. */
  sweep(): Promise<number>;
  stop(): void;
}

export interface TaskSweeperOptions {
  transport: { readonly taskStream: TaskStreamPort };
  kv: RunStoreKv;
  sweepMs: number;
  logger: Logger;
  counters: { undeliverable: number; malformed: number };
  now?: () => number;
}

/**
 * @example
 * const sweeper = startTaskSweeper({ transport, kv, sweepMs: 60_000, logger, counters });
 * sweeper.stop();
 */
export function startTaskSweeper(o: TaskSweeperOptions): TaskSweeper {
  const tasks = o.transport.taskStream;
  const now = o.now ?? Date.now;
  let running: Promise<number> | undefined;

  const drop = async (seq: number, fields: Record<string, unknown>, why: string): Promise<number> => {
    const deleted = await tasks.remove(seq).catch((err: unknown) => {
      o.logger.warn({ err, seq }, "could not delete an undeliverable task message; the next sweep tries again");
      return false;
    });
    if (!deleted) return 0;
    o.counters.undeliverable++;
    o.logger.warn({ seq, ...fields, why }, "undeliverable task message deleted from the tasks stream");
    return 1;
  };

  const sweepOnce = async (): Promise<number> => {
    const { first, last } = await tasks.bounds();
    const cutoff = now() - o.sweepMs;
    let dropped = 0;
    for (let seq = first; seq <= last && seq < first + SWEEP_BATCH; seq++) {
      const stored = await tasks.read(seq).catch(() => undefined);
      if (!stored) continue; // acked (removed) meanwhile
      if (stored.storedAt > cutoff) break; // younger ones follow
      const decoded = stored.task;
      if (!decoded.ok) {
        o.counters.malformed++;
        dropped += await drop(seq, { subject: stored.subject }, `malformed: ${decoded.reason}`);
        continue;
      }
      const m = decoded.value;
      const fields = { runId: m.runId, dispatchId: m.dispatchId, executor: m.executor };
      const bad = undeliverableReason(m);
      if (bad !== undefined) {
        dropped += await drop(seq, fields, bad);
        continue;
      }
      if ((await o.kv.active.get(activeKey(m.runId))) !== undefined) continue;
      // No active mark: make sure from the run's own entry (it is written with the mark, and kept after the run ends).
      const run = await o.kv.runs.get(runKey(m.runId));
      if (run !== undefined && isUnfinished(run.value)) continue;
      dropped += await drop(seq, fields, run === undefined ? `run "${m.runId}" is unknown` : `run "${m.runId}" is finished (${run.value.status})`);
    }
    return dropped;
  };

  const sweep = (): Promise<number> => {
    running ??= sweepOnce()
      .catch((err: unknown) => {
        o.logger.warn({ err }, "sweeping the tasks stream failed; retried at the next sweep");
        return 0;
      })
      .finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => void sweep(), o.sweepMs);
  timer.unref();
  return { sweep, stop: () => clearInterval(timer) };
}
