/**
 * `phaseflow schedules --nats URL [--json]`: every schedule and polling source the
 * coordinators serve, with its last and next tick and the run (or pass) it last
 * started, as the coordinators recorded them in KV. A schedule appears once a
 * coordinator serving its workflow has started.
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import type { TriggerState } from "../../triggers/trigger-state.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";

const when = (t: number | undefined): string => (t === undefined ? "-" : new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z"));

function lastOf(s: TriggerState): string {
  if (s.kind === "schedule") return s.lastRunId ?? "-";
  const p = s.lastPass;
  const pass = s.pass && !s.pass.processed ? `pass ${s.pass.runId} running` : "";
  const summary = p ? `${p.started} started of ${p.listed} listed${p.invalid > 0 ? `, ${p.invalid} invalid` : ""}${p.error !== undefined ? ` (${p.error})` : ""}` : "";
  return [pass, summary].filter(Boolean).join("; ") || "-";
}

/** The table `phaseflow schedules` prints. */
export function formatSchedules(states: readonly TriggerState[]): string {
  if (states.length === 0) return "no schedules or sources are served (start a coordinator with a workflow that declares some)\n";
  const rows = [["WORKFLOW", "NAME", "KIND", "WHEN", "CATCH-UP", "LAST TICK", "NEXT TICK", "LAST"]];
  for (const s of states) rows.push([s.workflow, s.id, s.kind, s.describe, s.catchUp ?? "-", when(s.lastTick), when(s.nextTick), lastOf(s)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export const schedulesCommand = defineCommand({
  name: "schedules",
  summary: "List the schedules and polling sources the coordinators serve, with their last and next tick",
  usage: "--nats URL [--json]",
  flags: {
    ...NATS_FLAGS,
    json: { type: "boolean", description: "print the recorded states as JSON" },
  },
  positionals: { min: 0, max: 0, missing: "" },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    const client = await createClient(natsOptionsFrom(values));
    try {
      const states = await client.schedules();
      io.stdout.write(values.json === true ? `${JSON.stringify(states, null, 2)}\n` : formatSchedules(states));
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
});
