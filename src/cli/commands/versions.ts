/**
 * `phaseflow versions --nats URL [--prefix P] [--json]`: for each workflow, each version
 * and plan hash, the live coordinators serving it (from their heartbeats) and how many
 * runs are in flight on it (pending or running). An older version with none in flight
 * can be retired (README, "Deploying new versions").
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import type { VersionReport } from "../../fleet/versions-report.js";
import { createSilentLogger } from "../../support/logger.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";

export const versionsCommand = defineCommand({
  name: "versions",
  summary: "List each workflow version: plan hash, serving coordinators, runs in flight",
  usage: "--nats URL [--prefix P] [--json]",
  flags: {
    ...NATS_FLAGS,
    json: { type: "boolean", description: "print the versions as JSON" },
  },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (coordinators write the versions they serve to NATS)");
    const client = await createClient({ ...natsOptionsFrom(values), logger: createSilentLogger() });
    try {
      const versions = await client.versions();
      io.stdout.write(values.json === true ? `${JSON.stringify(versions, null, 2)}\n` : formatVersions(versions));
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
});

/** What a version's runs in flight mean for retiring it. */
function inFlightText(row: VersionReport, latest: boolean): string {
  if (row.inFlight > 0) return `${String(row.inFlight)} run${row.inFlight === 1 ? "" : "s"} in flight${row.coordinators.length === 0 ? " (waiting: no live coordinator serves it)" : ""}`;
  return latest ? "0 runs in flight" : "0 runs in flight (none: safe to retire)";
}

/** The versions, one table per workflow (oldest version first). */
export function formatVersions(versions: readonly VersionReport[]): string {
  if (versions.length === 0) return "no workflow versions (no live coordinator and no run in flight; start one with: phaseflow coordinator --nats URL <workflow files>)\n";
  const head = ["VERSION", "PLAN", "COORDINATORS", "IN FLIGHT"];
  const out: string[] = [];
  for (const workflow of [...new Set(versions.map((v) => v.workflow))]) {
    const rows = versions.filter((v) => v.workflow === workflow);
    const cells = rows.map((r, i) => [r.version, r.planHash.slice(0, 12), r.coordinators.join(",") || "none", inFlightText(r, i === rows.length - 1)]);
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: readonly string[]): string => `  ${c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join("  ")}`;
    out.push(workflow, line(head), ...cells.map(line));
  }
  return `${out.join("\n")}\n`;
}
