/**
 * Worker heartbeats in the `<p>_workers` KV bucket: each worker writes its record
 * (id, host, pid, namespaces, executors, concurrency, in-flight) every `intervalMs`.
 * nats-server 2.9 has no per-key TTL, so liveness is read from the record's own
 * timestamp (a worker is live while its last beat is younger than `staleAfterMs`),
 * and the bucket's max_age ages dead workers' keys out. A worker that stops cleanly
 * deletes its key.
 */
import { z } from "zod";
import { indexPlan } from "../plan/lookup.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import type { Clock } from "../support/clock.js";
import type { TypedKv } from "../transport/fleet-port.js";
import { every, type BackgroundJob } from "./background-job.js";

export const workerHeartbeatSchema = z.object({
  workerId: z.string(),
  host: z.string(),
  pid: z.number().int(),
  namespaces: z.array(z.string()),
  executors: z.array(z.string()),
  concurrency: z.number().int().positive(),
  inFlight: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  malformed: z.number().int().nonnegative(),
  /** Task messages terminated unrun (ids that do not fit together). */
  undeliverable: z.number().int().nonnegative().optional(),
  startedAt: z.number(),
  /** How often this worker beats; it counts as dead after 3 missed beats. */
  intervalMs: z.number().int().positive().optional(),
  /** Epoch ms of this beat. */
  at: z.number(),
});
export type WorkerHeartbeat = z.infer<typeof workerHeartbeatSchema>;

/** Default time between beats. */
export const HEARTBEAT_INTERVAL_MS = 2000;
/** A worker whose last beat is older than this is not live. */
export const HEARTBEAT_STALE_MS = 3 * HEARTBEAT_INTERVAL_MS;

/** KV keys may not hold every character a worker id could; keep it to a safe set. */
export function heartbeatKey(workerId: string): string {
  return workerId.replace(/[^A-Za-z0-9_=-]/g, "_");
}

export interface HeartbeatLoop {
  /** Write one beat now. */
  beat(): Promise<void>;
  /** Stop beating and delete this worker's key. */
  stop(): Promise<void>;
}

/**
 * Beat every `intervalMs` until stopped; a failed write is logged and retried on the next beat.
 * @example const loop = startHeartbeat(workersKv, () => ({ ...info, at: Date.now() }), logger);
 */
export function startHeartbeat(kv: TypedKv<WorkerHeartbeat>, read: () => WorkerHeartbeat, logger: Logger, intervalMs = HEARTBEAT_INTERVAL_MS): HeartbeatLoop {
  let stopped = false;
  const beat = async (): Promise<void> => {
    if (stopped) return;
    const hb = read();
    try {
      await kv.put(heartbeatKey(hb.workerId), hb);
    } catch (err) {
      logger.warn({ err }, "worker heartbeat could not be written; will retry");
    }
  };
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return {
    beat,
    async stop() {
      stopped = true;
      clearInterval(timer);
      try {
        await kv.delete(heartbeatKey(read().workerId));
      } catch (err) {
        logger.debug({ err }, "worker heartbeat key could not be deleted (it ages out)");
      }
    },
  };
}

/** Live workers: heartbeats younger than 3 of their own intervals (or `staleAfterMs` when a beat does not say). */
export async function readLiveWorkers(kv: TypedKv<WorkerHeartbeat>, now: number, staleAfterMs = HEARTBEAT_STALE_MS): Promise<WorkerHeartbeat[]> {
  const out: WorkerHeartbeat[] = [];
  for (const key of await kv.keys()) {
    const entry = await kv.get(key);
    const limit = entry?.value.intervalMs !== undefined ? 3 * entry.value.intervalMs : staleAfterMs;
    if (entry && now - entry.value.at <= limit) out.push(entry.value);
  }
  return out.sort((a, b) => a.workerId.localeCompare(b.workerId));
}

/** Executors of `needed` that no live worker serves. */
export function missingExecutors(needed: readonly string[], workers: readonly WorkerHeartbeat[]): string[] {
  const served = new Set(workers.flatMap((w) => w.executors));
  return needed.filter((e) => !served.has(e));
}

/** The executors of `plan` no live worker serves now (a run of it waits for them). */
export async function missingWorkersFor(kv: TypedKv<WorkerHeartbeat>, plan: Plan, now: number): Promise<string[]> {
  return missingExecutors(indexPlan(plan).executors(), await readLiveWorkers(kv, now, HEARTBEAT_STALE_MS));
}

/**
 * A pending run's look for its workers: every `pollMs`, while `wanted(job)` holds, read
 * whether every executor of `plan` has a live worker; once they do and the run is still
 * wanted (looked at again after the read: it may have been cancelled meanwhile), stop and `go()`.
 */
export function whenWorkersServe(
  o: { kv: TypedKv<WorkerHeartbeat>; plan: Plan; clock: Clock; pollMs: number; logger: Logger },
  wanted: (job: BackgroundJob) => boolean,
  go: () => Promise<void>,
): BackgroundJob {
  const job = every(o.clock, o.pollMs, async () => {
    if (!wanted(job)) return;
    const stillMissing = (await missingWorkersFor(o.kv, o.plan, o.clock.now())).length > 0;
    if (stillMissing || !wanted(job)) return;
    job.stop();
    await go();
  }, o.logger);
  return job;
}
