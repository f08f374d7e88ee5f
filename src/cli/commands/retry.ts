/**
 * `phaseflow retry <runId> [--from state/task] --nats URL`: re-run a failed run from its
 * failed tasks (or from the given task) and everything downstream, reusing the recorded
 * outputs of everything that succeeded. The re-run is part of the same run's history.
 * Follows the run to its end and exits 0 when it succeeded, 1 otherwise.
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { defineCommand } from "../command.js";
import { EXIT_FAILED, EXIT_OK } from "../exit-codes.js";
import { formatRunRecord } from "../format-run.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";

export const retryCommand = defineCommand({
  name: "retry",
  summary: "Re-run a failed run from its failed tasks (or from --from) and everything downstream",
  usage: "<runId> --nats URL [--from STATE/TASK] [--json]",
  flags: {
    ...NATS_FLAGS,
    from: { type: "string", valueName: "STATE/TASK", description: "re-run from this task instead of the failed ones" },
    json: { type: "boolean", description: "print the final run record as JSON" },
  },
  positionals: { min: 1, max: 1, missing: "missing the run id, e.g. phaseflow retry run_0abc --nats nats://127.0.0.1:4222" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    let from: { state: string; task: string } | undefined;
    if (values.from !== undefined) {
      const [state, task, ...rest] = values.from.split("/");
      if (!state || !task || rest.length > 0) throw new UsageError(`--from "${values.from}" must be STATE/TASK, e.g. --from ingest/load`);
      from = { state, task };
    }
    const runId = positionals[0]!;
    const client = await createClient(natsOptionsFrom(values));
    try {
      await client.retry(runId, from);
      for await (const _event of client.follow(runId, { afterRetry: true })) {
        // until the retried run ends
      }
      const record = await client.get(runId);
      io.stdout.write(values.json === true ? `${JSON.stringify(record, null, 2)}\n` : formatRunRecord(record));
      return record.status === "succeeded" ? EXIT_OK : EXIT_FAILED;
    } finally {
      await client.close();
    }
  },
});
