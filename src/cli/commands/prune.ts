/**
 * `phaseflow prune --nats URL [--older-than AGE]`: remove the histories and summaries
 * of runs that finished longer ago than AGE (default 7d), now, instead of waiting for
 * the coordinators' retention sweep. Running runs are never touched.
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { inboxPrefixOf } from "../../transport/nats/permissions.js";
import { natsNames } from "../../transport/nats/names.js";
import { defineCommand } from "../command.js";
import { parseDuration } from "../duration.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";

export const pruneCommand = defineCommand({
  name: "prune",
  summary: "Remove finished runs older than an age from NATS",
  usage: "--nats URL [--older-than AGE]",
  flags: {
    ...NATS_FLAGS,
    "older-than": { type: "string", valueName: "AGE", description: "remove runs that finished longer ago than this, e.g. 7d, 12h, 30m (default 7d)" },
  },
  positionals: { min: 0, max: 0, missing: "" },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    const olderThan = parseDuration(values["older-than"] ?? "7d", "--older-than");
    // Pruning purges histories and KV entries: a coordinator's work, done with its credentials (and inbox).
    const nats = natsOptionsFrom(values);
    const client = await createClient({ ...nats, inboxPrefix: inboxPrefixOf(natsNames(nats.prefix), "coordinator") });
    try {
      const { removed } = await client.prune(olderThan);
      io.stdout.write(`removed ${removed.length} finished run${removed.length === 1 ? "" : "s"}${removed.length > 0 ? `: ${removed.join(", ")}` : ""}\n`);
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
});
