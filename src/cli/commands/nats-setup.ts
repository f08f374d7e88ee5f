/**
 * `phaseflow nats-setup --nats URL --replicas N`: create phaseflow's streams and KV
 * buckets with N Raft replicas, or change the replica count of existing ones in place
 * (nats-server re-replicates without losing messages), then print where each copy is.
 * Run it once when moving a deployment onto a cluster, before starting coordinators
 * with `--replicas N`.
 */
import { UsageError } from "../../errors/base.js";
import { setupNatsInfrastructure } from "../../transport/nats/setup.js";
import { defineCommand } from "../command.js";
import { EXIT_FAILED, EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";
import { REPLICAS_FLAG, replicasFrom } from "../replicas-flag.js";

export const natsSetupCommand = defineCommand({
  name: "nats-setup",
  summary: "Create phaseflow's NATS streams and buckets, or change their replica count",
  usage: "--nats URL[,URL...] --replicas N",
  details: "Streams PF_TASKS and PF_EVENTS and the KV buckets of runs and workers get N replicas; existing ones are re-replicated in place. N > 1 needs a NATS cluster of at least N JetStream servers.",
  flags: { ...NATS_FLAGS, ...REPLICAS_FLAG },
  positionals: { min: 0, max: 0, missing: "" },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    const replicas = replicasFrom(values.replicas);
    if (replicas === undefined) throw new UsageError("missing --replicas N, e.g. phaseflow nats-setup --nats URL --replicas 3");
    const reports = await setupNatsInfrastructure({ ...natsOptionsFrom(values), replicas, name: "phaseflow nats-setup" });
    let behind = false;
    for (const r of reports) {
      const change = r.before === undefined ? `created with ${r.after}` : r.before === r.after ? `already ${r.after}` : `${r.before} -> ${r.after}`;
      const where = r.leader === undefined ? "" : `, leader ${r.leader}, current on ${r.current.join(", ")}`;
      io.stdout.write(`${r.resource}: replicas ${change}${where} (${r.messages} messages)\n`);
      if (r.current.length < r.after) behind = true;
    }
    if (behind) {
      io.stderr.write("some replicas are still catching up; run nats-setup again later to see them current\n");
      return EXIT_FAILED;
    }
    return EXIT_OK;
  },
});
