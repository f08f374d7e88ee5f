/**
 * A coordinator's background jobs (lease renewal, the orphan scan, a pending run's look
 * for its workers): one job on the injected clock, run again `ms` after the last run has
 * settled, so a slow one never overlaps itself. A failure is logged and the job runs again.
 */
import type { Clock } from "../support/clock.js";
import type { Logger } from "../registry/types.js";

export interface BackgroundJob {
  stop(): void;
}

/**
 * Run `job` every `ms` on `clock` (the next one after the last has settled) until stopped.
 * @example const renew = every(clock, 1_000, () => store.renewAll(), log); ... renew.stop();
 */
export function every(clock: Clock, ms: number, job: () => Promise<void>, log: Logger): BackgroundJob {
  let handle: unknown;
  let stopped = false;
  const tick = (): void => {
    handle = clock.setTimeout(() => {
      void job()
        .catch((err: unknown) => log.warn({ err }, "a background job of the coordinator failed; it runs again"))
        .finally(() => {
          if (!stopped) tick();
        });
    }, ms);
    (handle as { unref?: () => void } | undefined)?.unref?.();
  };
  tick();
  return {
    stop: () => {
      stopped = true;
      clock.clearTimeout(handle);
    },
  };
}
