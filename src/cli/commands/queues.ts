/**
 * `phaseflow queues --nats URL [--json]`: the fleet's task limits (README "Traffic control"):
 * per limit and key, the attempts running (holding a concurrency slot), the attempts waiting
 * and the rate use of the current window, e.g.
 * `llm/complete  [acme]  running 8/8  waiting 12  rate 5/5 per 1s`.
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { formatQueues } from "../../fleet/queues-report.js";
import { createSilentLogger } from "../../support/logger.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";

export const queuesCommand = defineCommand({
  name: "queues",
  summary: "Show waiting, running and rate use per task limit and key on a fleet",
  usage: "--nats URL [--json]",
  flags: {
    ...NATS_FLAGS,
    json: { type: "boolean", description: "print the rows as JSON" },
  },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (the coordinators keep the task limits there)");
    const client = await createClient({ ...natsOptionsFrom(values), logger: createSilentLogger() });
    try {
      const { rows, unanswered } = await client.queues();
      io.stdout.write(values.json === true ? `${JSON.stringify({ rows, unanswered }, null, 2)}\n` : formatQueues(rows, unanswered));
      return EXIT_OK;
    } finally {
      await client.close();
    }
  },
});
