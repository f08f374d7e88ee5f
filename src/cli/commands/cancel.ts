/**
 * `phaseflow cancel <runId> --nats URL`: cancel a run; in-flight attempts are aborted
 * on the workers and nothing more is dispatched. Prints the run's status after.
 */
import { RunNotFoundError, UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { defineCommand } from "../command.js";
import { EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { describeUnknownRun } from "../unknown-run.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom } from "../nats-flags.js";

export const cancelCommand = defineCommand({
  name: "cancel",
  summary: "Cancel a run",
  usage: "<runId> --nats URL [--reason TEXT]",
  flags: {
    ...NATS_FLAGS,
    reason: { type: "string", valueName: "TEXT", description: "recorded with the cancellation" },
  },
  positionals: { min: 1, max: 1, missing: "missing the run id, e.g. phaseflow cancel run_0abc --nats nats://127.0.0.1:4222" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    const runId = positionals[0]!;
    const client = await createClient(natsOptionsFrom(values));
    try {
      const status = await client.cancel(runId, values.reason ?? "cancelled from the command line");
      io.stdout.write(
        status === "running" || status === "pending"
          ? `run ${runId}: ${status}; the cancel is recorded and the coordinator that takes the run over applies it (its holder is gone); watch it with: phaseflow follow ${runId} ${natsFlagsText(values)}\n`
          : `run ${runId}: ${status}\n`,
      );
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof RunNotFoundError)) throw err;
      io.stderr.write(`phaseflow cancel: ${describeUnknownRun(positionals[0] ?? "", natsFlagsText(values))}\n`);
      return EXIT_USAGE;
    } finally {
      await client.close();
    }
  },
});
