/**
 * Coordinator heartbeats in `<p>_runs` (`coordinator.<id>`): each coordinator writes
 * which workflow versions it serves (name, version, plan hash) every `intervalMs`, and
 * keeps the fleet's view from everyone's beats. From them:
 *
 * - a start without a version goes to the latest version served anywhere in the fleet
 *   (a coordinator still serving only v1 forwards it to one serving v2);
 * - a run whose plan no live coordinator serves is shown as waiting for one
 *   (run-waits-for.ts), never failed;
 * - `phaseflow versions` lists which coordinators serve which version.
 *
 * As with worker heartbeats (nats-server 2.9 has no per-key TTL) liveness is read from a
 * beat's own timestamp; a coordinator that stops cleanly deletes its key, and keys of
 * coordinators dead for longer than `FORGET_AFTER_MS` are removed by whoever sees them.
 */
import { z } from "zod";
import type { Logger } from "../registry/types.js";
import type { TypedKv } from "../transport/fleet-port.js";
import { HEARTBEAT_INTERVAL_MS } from "./heartbeat.js";

export const servedVersionSchema = z.object({ workflow: z.string(), version: z.string(), planHash: z.string() });
export type ServedVersion = z.infer<typeof servedVersionSchema>;

export const coordinatorHeartbeatSchema = z.object({
  coordinatorId: z.string(),
  host: z.string(),
  pid: z.number().int(),
  served: z.array(servedVersionSchema),
  /** Runs this coordinator drives now. */
  runs: z.number().int().nonnegative(),
  startedAt: z.number(),
  intervalMs: z.number().int().positive(),
  /** Epoch ms of this beat. */
  at: z.number(),
});
export type CoordinatorHeartbeat = z.infer<typeof coordinatorHeartbeatSchema>;

export const COORDINATOR_KEYS = "coordinator.>";
/** A dead coordinator's beat is deleted after this long. */
export const FORGET_AFTER_MS = 24 * 3600_000;

export const coordinatorKey = (coordinatorId: string): string => `coordinator.${coordinatorId.replace(/[^A-Za-z0-9_=-]/g, "_")}`;

const isLive = (hb: CoordinatorHeartbeat, now: number): boolean => now - hb.at <= 3 * hb.intervalMs;

/** Live coordinators, by id. */
export async function readLiveCoordinators(kv: TypedKv<CoordinatorHeartbeat>, now: number, logger?: Logger): Promise<CoordinatorHeartbeat[]> {
  const out: CoordinatorHeartbeat[] = [];
  for (const key of new Set(await kv.keys(COORDINATOR_KEYS))) {
    const entry = await kv.get(key);
    if (!entry) continue;
    if (isLive(entry.value, now)) out.push(entry.value);
    else if (now - entry.value.at > FORGET_AFTER_MS) await kv.delete(key).catch((err: unknown) => logger?.debug({ err, key }, "could not delete a dead coordinator's heartbeat"));
  }
  return out.sort((a, b) => a.coordinatorId.localeCompare(b.coordinatorId));
}

export interface CoordinatorBeat {
  /** The live coordinators as of the last beat (this one included). */
  fleet(): readonly CoordinatorHeartbeat[];
  /** Write a beat and refresh the fleet's view now. */
  beat(): Promise<void>;
  /** Stop beating and delete this coordinator's key. */
  stop(): Promise<void>;
}

/**
 * Beat every `intervalMs` until stopped (one beat before it resolves); failures are logged and retried.
 * @example const beat = await startCoordinatorBeat(kv, () => ({ ...info, at: Date.now() }), logger);
 */
export async function startCoordinatorBeat(kv: TypedKv<CoordinatorHeartbeat>, read: () => CoordinatorHeartbeat, logger: Logger, intervalMs = HEARTBEAT_INTERVAL_MS): Promise<CoordinatorBeat> {
  let stopped = false;
  let fleet: CoordinatorHeartbeat[] = [];
  const beat = async (): Promise<void> => {
    if (stopped) return;
    const hb = read();
    try {
      await kv.put(coordinatorKey(hb.coordinatorId), hb);
      fleet = await readLiveCoordinators(kv, hb.at, logger);
      if (!fleet.some((c) => c.coordinatorId === hb.coordinatorId)) fleet.push(hb);
    } catch (err) {
      logger.warn({ err }, "coordinator heartbeat could not be written or read; will retry");
    }
  };
  await beat();
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return {
    fleet: () => fleet,
    beat,
    async stop() {
      stopped = true;
      clearInterval(timer);
      try {
        await kv.delete(coordinatorKey(read().coordinatorId));
      } catch (err) {
        logger.debug({ err }, "coordinator heartbeat key could not be deleted (it goes stale)");
      }
    },
  };
}
