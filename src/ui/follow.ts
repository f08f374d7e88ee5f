/**
 * A run's updates through the transport port, for the web view: its live signals and
 * its stored history from the start, then live, flattened to the events the record
 * fold reads (as `client.followLive` does, without ending at the run's end: a page
 * stays open across a retry).
 */
import { decisionEvents, reportEvent } from "../runtime/core/history.js";
import type { RunUpdate } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import type { StopFollowing } from "./backend.js";

/**
 * Follow one run until stopped.
 * @example const sub = await followRunUpdates(transport, runId, (u) => view.apply(u));
 */
export async function followRunUpdates(transport: Transport, runId: string, onUpdate: (update: RunUpdate) => void): Promise<StopFollowing> {
  const live = await transport.subscribeLive(runId, (signal) => onUpdate(signal));
  let history;
  try {
    history = await transport.followHistory(runId, 0, ({ seq, message }) => {
      if (message.kind !== "decision") onUpdate(reportEvent(seq, message));
      else for (const e of decisionEvents(message)) if (e.type !== "through") onUpdate(e);
    });
  } catch (err) {
    await live.stop();
    throw err;
  }
  const followed = history;
  return {
    async stop() {
      await Promise.allSettled([live.stop(), followed.stop()]);
    },
  };
}
