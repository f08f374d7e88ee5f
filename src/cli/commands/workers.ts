/**
 * `phaseflow workers --nats URL [--json]`: the live workers of a fleet, from their
 * heartbeats: id, host, namespaces, executors, concurrency, tasks in flight and the
 * age of the last beat. A worker that missed three beats is not listed.
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import type { WorkerHeartbeat } from "../../fleet/heartbeat.js";
import { createSilentLogger } from "../../support/logger.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";

export const workersCommand = defineCommand({
  name: "workers",
  summary: "List the live workers of a fleet from their heartbeats",
  usage: "--nats URL [--json]",
  flags: {
    ...NATS_FLAGS,
    json: { type: "boolean", description: "print the heartbeats as JSON" },
  },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (workers write their heartbeats to NATS)");
    const logger = createSilentLogger();
    const client = await createClient({ ...natsOptionsFrom(values), logger });
    try {
      const now = Date.now();
      const workers = await client.workers();
      io.stdout.write(values.json === true ? `${JSON.stringify(workers, null, 2)}\n` : formatWorkers(workers, now));
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
});

/** The workers as a table, one line each. */
export function formatWorkers(workers: readonly WorkerHeartbeat[], now: number): string {
  if (workers.length === 0) return "no live workers (start one with: phaseflow worker --nats URL <executor modules>)\n";
  const rows = workers.map((w) => [
    w.workerId,
    w.host,
    w.namespaces.join(",") || "-",
    w.executors.join(",") || "-",
    String(w.concurrency),
    String(w.inFlight),
    `${String(w.completed)}/${String(w.failed)}`,
    `${((now - w.at) / 1000).toFixed(1)}s ago`,
  ]);
  const head = ["WORKER", "HOST", "NAMESPACES", "EXECUTORS", "CONCURRENCY", "IN FLIGHT", "DONE/FAILED", "LAST HEARTBEAT"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return `${[line(head), ...rows.map(line)].join("\n")}\n${workers.length} live worker${workers.length === 1 ? "" : "s"}\n`;
}
