/**
 * Retention: the histories and summaries of finished runs go once they are older than
 * the retention age (default 7 days), so nothing on the server grows without bound.
 *
 * Finished runs are indexed by the hour they finished (`hour.<YYYYMMDDHH>`, then
 * `done.<hour>.<runId>`; run-store.ts), so a sweep lists the hours and then only the
 * runs of the hours past the cut-off, never every run.
 * Every coordinator sweeps now and then (deleting is idempotent: two sweeps of one
 * hour do the same work twice, no harm); `phaseflow prune --older-than D` runs the
 * same sweep on demand with its own cut-off. Running runs are never touched: they are
 * not in the finished index.
 */
import type { Logger } from "../registry/types.js";
import type { Transport } from "../transport/port.js";
import { INCOMPLETE_UPLOAD_AGE_MS, type Payloads } from "../transport/payloads.js";
import { hourOf, runKey, type RunStoreKv } from "./run-store.js";

// A run may finish in an hour whose marker is already purged only if its clock ran back; such a run is swept with the next marker of its hour.

export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60_000;
const HOUR_MS = 60 * 60_000;

export interface PruneResult {
  /** Runs whose history and summary were removed. */
  removed: string[];
}

/**
 * Remove every finished run that finished before `cutoff` (epoch ms).
 * @example
 * const { removed } = await pruneFinishedRuns(transport, kv, Date.now() - 7 * 86_400_000, logger);
 */
export async function pruneFinishedRuns(transport: RetentionTransport, kv: RunStoreKv, cutoff: number, logger: Logger): Promise<PruneResult> {
  const removed: string[] = [];
  const cutHour = hourOf(cutoff);
  // Hours strictly before the cut-off hour go whole; the cut-off hour itself run by run.
  const hours = (await kv.done.keys("hour.>")).map((k) => k.slice("hour.".length)).filter((h) => h <= cutHour);
  for (const hour of hours.sort()) {
    let kept = 0;
    for (const key of await kv.done.keys(`done.${hour}.>`)) {
      const runId = key.slice(`done.${hour}.`.length);
      const mark = await kv.done.get(key);
      if (mark && mark.value.finishedAt >= cutoff) {
        kept++;
        continue;
      }
      try {
        await transport.deleteHistory(runId);
        // Its start key goes with it: from now on the key may start a new run.
        const startKey = (await kv.runs.get(runKey(runId)))?.value.startKey;
        if (startKey !== undefined) await kv.runs.purge(startKey);
        await kv.runs.purge(runKey(runId));
        await kv.done.purge(key);
        removed.push(runId);
      } catch (err) {
        kept++;
        logger.warn({ err, runId }, "could not remove an expired run; the next sweep tries again");
      }
    }
    if (kept === 0 && hour < cutHour) await kv.done.purge(`hour.${hour}`);
  }
  if (removed.length > 0) logger.info({ removed: removed.length, cutoff }, "removed finished runs past their retention");
  // Uploads cut short (their uploader died mid-put) left parts no run names: they go too, once nothing has written to them for a while.
  try {
    await transport.payloads?.sweepIncomplete(INCOMPLETE_UPLOAD_AGE_MS);
  } catch (err) {
    logger.warn({ err }, "could not sweep incomplete payload uploads; the next sweep tries again");
  }
  return { removed };
}

/** What retention uses of a transport: deleting histories (their payloads with them), and sweeping incomplete payload uploads. */
export type RetentionTransport = Pick<Transport, "deleteHistory"> & { readonly payloads?: Pick<Payloads, "sweepIncomplete"> | undefined };

export interface RetentionOptions {
  transport: RetentionTransport;
  kv: RunStoreKv;
  retentionMs: number;
  logger: Logger;
  /** How often to sweep. Default: hourly (at most every retention / 4). */
  everyMs?: number;
  now?: () => number;
}

/** Sweep now and then until stopped. */
export function startRetention(o: RetentionOptions): { stop(): void; sweep(): Promise<PruneResult> } {
  const now = o.now ?? Date.now;
  const sweep = (): Promise<PruneResult> => pruneFinishedRuns(o.transport, o.kv, now() - o.retentionMs, o.logger);
  const every = o.everyMs ?? Math.max(1000, Math.min(HOUR_MS, Math.floor(o.retentionMs / 4)));
  const timer = setInterval(() => {
    sweep().catch((err: unknown) => o.logger.warn({ err }, "retention sweep failed; it runs again later"));
  }, every);
  timer.unref();
  return { stop: () => clearInterval(timer), sweep };
}
