/**
 * `phaseflow signal <runId> <name> [--payload JSON|@file] [--id ID] --nats URL`: send a
 * signal to a fleet run. A signal node of that name succeeds with the payload when the
 * run reaches it (or at once, if it waits already). The coordinator checks the signal
 * against the workflow before storing it: an unknown name, a payload failing the
 * node's schema (every issue is printed) or a finished run exit 2 and change nothing.
 * With `--id`, sending again is harmless: a repeated id is applied once.
 */
import { RunNotFoundError, UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { defineCommand } from "../command.js";
import { EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom } from "../nats-flags.js";
import { readRunInput } from "../run-input.js";
import { describeUnknownRun } from "../unknown-run.js";

export const signalCommand = defineCommand({
  name: "signal",
  summary: "Send a signal to a run (a signal node waiting for it succeeds with the payload)",
  usage: "<runId> <name> --nats URL [--payload JSON|@file] [--id ID]",
  flags: {
    ...NATS_FLAGS,
    payload: { type: "string", valueName: "JSON|@file", description: "the signal's payload: JSON text, or @file.json (default: none)" },
    id: { type: "string", valueName: "ID", description: "idempotency id: a signal sent again with the same id is applied once" },
  },
  positionals: { min: 2, max: 2, missing: "missing the run id or the signal name, e.g. phaseflow signal run_0abc verdict --payload '{\"ok\":true}' --nats nats://127.0.0.1:4222" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    const [runId, name] = positionals as [string, string];
    const payload = readRunInput(values.payload, process.cwd(), "--payload", `'{"ok":true}'`);
    const client = await createClient(natsOptionsFrom(values));
    try {
      const sent = await client.signal(runId, name, payload, values.id !== undefined ? { id: values.id } : {});
      io.stdout.write(`run ${runId}: signal "${name}" ${sent.duplicate ? "was sent before with this id; applied once" : "sent"} (id ${sent.id})\n`);
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof RunNotFoundError)) throw err;
      io.stderr.write(`phaseflow signal: ${describeUnknownRun(runId, natsFlagsText(values))}\n`);
      return EXIT_USAGE;
    } finally {
      await client.close();
    }
  },
});
