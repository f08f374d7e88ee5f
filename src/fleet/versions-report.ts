/**
 * What `phaseflow versions` and `client.versions()` show: for each workflow, each version
 * and plan hash the fleet knows of, which live coordinators serve it (from their
 * heartbeats, `coordinator.<id>` in `<p>_runs`) and how many runs are in flight on it
 * (pending or running, from the active-run index `active.<runId>` and the runs'
 * summaries; finished runs are never read). A version with none in flight can be
 * retired; one with runs in flight and no coordinator is where those runs wait.
 *
 * Coordinators answer it on `<p>.api.run.versions` (clients may not read `<p>_runs`
 * with per-role NATS users), reading the store as below.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../errors/serialize.js";
import { compareVersions } from "../plan/versions.js";
import type { Logger } from "../registry/types.js";
import type { FleetTransport } from "../transport/fleet-port.js";
import { coordinatorHeartbeatSchema, readLiveCoordinators, type CoordinatorHeartbeat } from "./coordinator-heartbeat.js";
import { ACTIVE_KEYS, isUnfinished, runKey, runStoreKv, type StoredRun } from "./run-store.js";

export const versionReportSchema = z.object({
  workflow: z.string(),
  version: z.string(),
  planHash: z.string(),
  /** Ids of the live coordinators serving this version and plan (none: its runs wait for one). */
  coordinators: z.array(z.string()),
  /** Runs pending or running on this version and plan. */
  inFlight: z.number().int().nonnegative(),
});
export type VersionReport = z.infer<typeof versionReportSchema>;

/** `<p>.api.run.versions`: no parameters. */
export const versionsRequestSchema = z.object({});
export const versionsReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), versions: z.array(versionReportSchema) }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);

/** The in-flight runs, from the active index (a mark whose run is gone or finished is skipped, not removed: readers leave housekeeping to coordinators). */
export async function readInFlightRuns(stores: Pick<FleetTransport, "store">): Promise<StoredRun[]> {
  const kv = runStoreKv(stores);
  const out: StoredRun[] = [];
  for (const key of new Set(await kv.active.keys(ACTIVE_KEYS))) {
    const entry = await kv.runs.get(runKey(key.slice("active.".length)));
    if (entry && isUnfinished(entry.value)) out.push(entry.value);
  }
  return out;
}

/** One row per workflow, version and plan, by workflow then version (oldest first). */
export function versionReport(coordinators: readonly CoordinatorHeartbeat[], inFlight: readonly Pick<StoredRun, "workflow" | "version" | "planHash">[]): VersionReport[] {
  const rows = new Map<string, VersionReport>();
  const rowOf = (workflow: string, version: string, planHash: string): VersionReport => {
    const key = JSON.stringify([workflow, version, planHash]);
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { workflow, version, planHash, coordinators: [], inFlight: 0 }));
    return row;
  };
  for (const c of coordinators) for (const s of c.served) {
    const row = rowOf(s.workflow, s.version, s.planHash);
    if (!row.coordinators.includes(c.coordinatorId)) row.coordinators.push(c.coordinatorId);
  }
  for (const run of inFlight) rowOf(run.workflow, run.version, run.planHash).inFlight++;
  return [...rows.values()]
    .map((r) => ({ ...r, coordinators: r.coordinators.sort() }))
    .sort((a, b) => a.workflow.localeCompare(b.workflow) || compareVersions(a.version, b.version) || a.planHash.localeCompare(b.planHash));
}

/** The fleet's versions now (see the module comment). */
export async function readVersions(stores: Pick<FleetTransport, "store">, now: number, logger?: Logger): Promise<VersionReport[]> {
  const [coordinators, runs] = await Promise.all([readLiveCoordinators(stores.store("runs", coordinatorHeartbeatSchema), now, logger), readInFlightRuns(stores)]);
  return versionReport(coordinators, runs);
}
