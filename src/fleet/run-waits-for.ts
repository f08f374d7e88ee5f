/**
 * A run whose plan no live coordinator serves is never failed for it (README "Deploying new versions"): it
 * waits, and `status`, the run list and the web view say what for — "waiting for a
 * coordinator serving holdout@1 (plan 3f2a…)". Read from the coordinators' heartbeats
 * (coordinator-heartbeat.ts); the run resumes as soon as a coordinator serving its plan
 * appears (its orphan scan adopts it: run-driver.ts).
 */
import { versionLabel } from "../embedded/workflow-catalog.js";
import type { CoordinatorHeartbeat } from "./coordinator-heartbeat.js";

/** What an unfinished run waits for when no live coordinator serves its plan; undefined otherwise. */
export function coordinatorWaitOf(
  run: { workflow: string; version: string; planHash: string; status: string },
  fleet: readonly CoordinatorHeartbeat[],
): string | undefined {
  if (run.status !== "running" && run.status !== "pending") return undefined;
  if (run.planHash === "" || fleet.some((c) => c.served.some((s) => s.planHash === run.planHash))) return undefined;
  return `waiting for a coordinator serving ${versionLabel(run.workflow, run.version)} (plan ${run.planHash.slice(0, 12)}…)`;
}
