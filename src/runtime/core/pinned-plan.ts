/**
 * The plan a stored run is pinned to (README "Deploying new versions"): the one its `run.started` names.
 * Resume, retry, signals and takeover all use this plan, whichever versions of the
 * workflow are served now.
 */
import type { StoredMessage } from "../../transport/messages.js";

/** The plan hash of the run's history (undefined before run.started is stored). */
export function pinnedPlanHash(messages: readonly StoredMessage[]): string | undefined {
  let hash: string | undefined;
  for (const m of messages) {
    if (m.message.kind !== "decision") continue;
    for (const e of m.message.events) if (e.type === "run.started") hash = e.planHash;
  }
  return hash;
}
