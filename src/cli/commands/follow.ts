/**
 * `phaseflow follow <runId> --nats URL`: the live progress display (or, off a terminal,
 * the event log and the final record) of a run started anywhere — by `run --detach`,
 * another machine, a schedule. It replays the run's history from its start, so a
 * finished run shows its end at once. Ctrl-C stops following; the run goes on.
 * Exit codes: 0 the run succeeded, 1 it failed or was cancelled, 2 bad usage or an
 * unknown run, 130 stopped following.
 */
import { RunNotFoundError, UsageError } from "../../errors/base.js";
import { defineCommand } from "../command.js";
import { EXIT_USAGE } from "../exit-codes.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom } from "../nats-flags.js";
import { attachNatsRun, servedPlan } from "../run-nats.js";
import { createRunLogger, showRun } from "../run-show.js";
import { closeWithin, DRAIN_FLAG, drainTimeoutFrom } from "../shutdown.js";
import { describeUnknownRun } from "../unknown-run.js";

export const followCommand = defineCommand({
  name: "follow",
  summary: "Follow a run on the fleet to its end, with the live progress display",
  usage: "<runId> --nats URL [--json]",
  details: [
    "Shows a run started anywhere (e.g. by 'phaseflow run --nats URL --detach'), from its start.",
    "Ctrl-C stops following; the run goes on (cancel it with 'phaseflow cancel <runId>').",
    "",
    "Exit codes: 0 the run succeeded, 1 it failed or was cancelled, 2 bad usage or unknown run, 130 stopped following.",
  ].join("\n"),
  flags: {
    ...NATS_FLAGS,
    json: { type: "boolean", description: "print only the run record as JSON on stdout (event log lines on stderr)" },
    ...DRAIN_FLAG,
  },
  positionals: { min: 1, max: 1, missing: "missing the run id, e.g. phaseflow follow run_0abc --nats nats://127.0.0.1:4222" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (fleet runs live in NATS)");
    const drainMs = drainTimeoutFrom(values["drain-timeout"]);
    const runId = positionals[0]!;
    const live = io.isTTY && values.json !== true;
    const log = createRunLogger(io, live, "phaseflow-follow");
    let attached: Awaited<ReturnType<typeof attachNatsRun>>;
    try {
      attached = await attachNatsRun({ nats: natsOptionsFrom(values), runId, logger: log.logger });
    } catch (err) {
      if (err instanceof RunNotFoundError) {
        io.stderr.write(`phaseflow follow: ${describeUnknownRun(runId, natsFlagsText(values))}\n`);
        return EXIT_USAGE;
      }
      throw err;
    }
    const { session, record } = attached;
    try {
      const plan = record.workflow === "" ? undefined : await servedPlan(session.client, record.workflow, record.planHash);
      return await showRun({
        io,
        session,
        live,
        log,
        workflow: { name: record.workflow, version: record.version },
        totals: plan ? Object.fromEntries(plan.states.map((s) => [s.name, s.tasks.length])) : undefined,
        fleetFlags: natsFlagsText(values),
        command: "phaseflow follow",
      });
    } finally {
      await closeWithin(() => session.close(), drainMs, log.logger, "phaseflow follow");
    }
  },
});
