/**
 * The plan a stored run is pinned to (README "Deploying new versions"): the one its `run.started` names,
 * or the last `run.upgraded` moved it onto. Resume, retry, signals and takeover all use
 * this plan, whichever versions of the workflow are served now.
 */
import type { StoredMessage } from "../../transport/messages.js";

/** The plan hash the run's history is on now (undefined before run.started is stored). */
export function pinnedPlanHash(messages: readonly StoredMessage[]): string | undefined {
  let hash: string | undefined;
  for (const m of messages) {
    if (m.message.kind !== "decision") continue;
    for (const e of m.message.events) if (e.type === "run.started" || e.type === "run.upgraded") hash = e.planHash;
  }
  return hash;
}
