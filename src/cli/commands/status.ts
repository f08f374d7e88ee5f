/**
 * `phaseflow status [runId] --nats URL`: without a run id, list recent runs (task totals
 * count the whole plan, not only the started tasks; `--parent ID`: the child runs of one
 * run); with one, show it per state and task (its parent and child runs named)
 * (status, attempts, worker, duration, error), including the plan's tasks not started
 * yet and every failed attempt's error; a state visit of more than 20 tasks is grouped.
 */
import { RunNotFoundError, UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { historyEvents } from "../../runtime/core/history.js";
import { runStatusSchema } from "../../runtime/core/run-record-schema.js";
import { runIdSchema } from "../../transport/messages.js";
import { defineCommand } from "../command.js";
import { EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { attemptErrorsOf, formatRunList, formatRunRecord } from "../format-run.js";
import { servedPlan } from "../run-nats.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom } from "../nats-flags.js";
import { describeUnknownRun } from "../unknown-run.js";

export const statusCommand = defineCommand({
  name: "status",
  summary: "List recent runs, or show one run per state and task",
  usage: "[runId] --nats URL [--json [--resolve]] [--limit N] [--status STATUS] [--parent RUNID]",
  flags: {
    ...NATS_FLAGS,
    json: { type: "boolean", description: "print JSON (the run record, or the list); values over 256KB show as payload references { $pfref, bytes }" },
    resolve: { type: "boolean", description: "with --json and a run id: print the values payload references stand for (fetched from the payload store)" },
    limit: { type: "string", valueName: "N", description: "most runs listed (default 50)" },
    status: { type: "string", valueName: "STATUS", description: "list only runs with this status (pending, running, succeeded, failed, cancelled)" },
    parent: { type: "string", valueName: "RUNID", description: "list only the child runs of this run" },
  },
  positionals: { min: 0, max: 1 },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (run records live in NATS)");
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit "${values.limit}" must be a whole number >= 1`);
    const status = values.status === undefined ? undefined : runStatusSchema.safeParse(values.status);
    if (status && !status.success) throw new UsageError(`--status "${values.status}" must be one of ${runStatusSchema.options.join(", ")}`);
    if (values.parent !== undefined && !runIdSchema.safeParse(values.parent).success) throw new UsageError(`--parent "${values.parent}" is no run id (letters, digits, '_' and '-')`);
    if (values.parent !== undefined && positionals[0] !== undefined) throw new UsageError("--parent lists child runs: give it without a run id (phaseflow status <runId> names a run's children itself)");
    if (values.resolve === true && (values.json !== true || positionals[0] === undefined)) throw new UsageError("--resolve goes with --json and a run id: phaseflow status <runId> --json --resolve");
    const client = await createClient(natsOptionsFrom(values));
    try {
      const runId = positionals[0];
      if (runId !== undefined) {
        const { record, waiting } = await client.inspect(runId);
        if (values.json === true) {
          const shown = values.resolve === true ? await client.transport.payloads.resolve(record) : record;
          io.stdout.write(`${JSON.stringify(waiting !== undefined ? { ...shown, waiting } : shown, null, 2)}\n`);
        } else {
          // The plan (tasks not started yet) and the history (every attempt's error) make the view whole.
          const plan = record.workflow === "" ? undefined : await servedPlan(client, record.workflow, record.planHash, record.version);
          const events = historyEvents((await client.transport.readHistory(runId)).messages);
          io.stdout.write(formatRunRecord(record, { plan, attemptErrors: attemptErrorsOf(events), ...(waiting !== undefined ? { waiting } : {}) }));
        }
      } else {
        const runs = await client.list({ limit, ...(status?.success ? { status: status.data } : {}), ...(values.parent !== undefined ? { parent: values.parent } : {}) });
        if (values.json === true) {
          io.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
        } else {
          const planTasks = new Map<string, number>();
          for (const name of new Set(runs.map((r) => r.workflow))) {
            const plan = await servedPlan(client, name);
            if (plan) planTasks.set(name, plan.states.reduce((n, st) => n + st.tasks.length, 0));
          }
          io.stdout.write(formatRunList(runs, planTasks));
        }
      }
      return EXIT_OK;
    } catch (err) {
      if (!(err instanceof RunNotFoundError)) throw err;
      io.stderr.write(`phaseflow status: ${describeUnknownRun(positionals[0] ?? "", natsFlagsText(values))}\n`);
      return EXIT_USAGE;
    } finally {
      await client.close();
    }
  },
});
