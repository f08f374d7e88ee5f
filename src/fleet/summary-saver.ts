/**
 * When a driven run's summary is saved to the run store (run-store.ts) while it runs: at
 * once on each run or state event (what `status` and the run list show), and at most
 * every 250 ms for the rest (task events of a wide run come in bursts).
 */
import type { RunHandle } from "../runtime/shell/run-handle.js";
import type { RunEvent } from "../transport/messages.js";

/** How long task events are coalesced before the summary is saved. */
export const SUMMARY_COALESCE_MS = 250;

/**
 * Call `save` as `handle`'s run changes, until the returned stop is called.
 * @example const stop = saveOnChange(handle, () => void store.save(handle.summary())); ... stop();
 */
export function saveOnChange(handle: Pick<RunHandle, "on">, save: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = (): void => {
    timer = undefined;
    save();
  };
  const off = handle.on((event: RunEvent) => {
    if (event.type.startsWith("run.") || event.type.startsWith("state.")) {
      if (timer) clearTimeout(timer);
      flush();
    } else if (!timer) {
      timer = setTimeout(flush, SUMMARY_COALESCE_MS);
      timer.unref();
    }
  });
  return () => {
    off();
    if (timer) clearTimeout(timer);
  };
}
