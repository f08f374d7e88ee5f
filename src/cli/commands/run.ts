/**
 * `phaseflow run <file>`: run a workflow to its end and show it. Embedded by default
 * (the executors are the registries the workflow module exports plus those of the
 * `--executors` modules); with `--nats URL`, submitted to a coordinator and followed
 * from its event history. Input is checked against the workflow's schema before
 * anything starts.
 *
 * On a terminal it draws a live progress block and ends with a per-task table and
 * the run's output; off a terminal, or with `--json`, it logs one pino line per run
 * event on stderr and prints the run record as JSON on stdout. Ctrl-C cancels the
 * run. Exit codes: 0 the run succeeded, 1 it failed or was cancelled (the failed
 * tasks are named on stderr), 2 bad usage or input.
 */
import { InputValidationError, UsageError } from "../../errors/base.js";
import type { Registry } from "../../registry/registry.js";
import type { Logger } from "../../registry/types.js";
import { createLogger } from "../../runtime/logger.js";
import { defineCommand, type CliIo } from "../command.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { loadWorkflow } from "../load-module.js";
import { NATS_FLAGS, natsOptionsFrom } from "../nats-flags.js";
import { startEmbeddedRun } from "../run-embedded.js";
import { collectExecutors } from "../run-executors.js";
import { followRun, type RunSession } from "../run-follow.js";
import { checkRunInput, formatInputIssues, readRunInput } from "../run-input.js";
import { describeWaiting, startNatsRun } from "../run-nats.js";
import { describeRunFailure, formatRunJson, formatRunResult } from "../run-summary.js";
import { createLogView, createTerminalView, type RunView, type TerminalView } from "../run-views.js";

const SCHEDULES = ["phases", "eager"] as const;
const ON_FAILURE = ["fail-fast", "continue"] as const;

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} "${value}" must be one of ${allowed.join(", ")}`);
}

/** A writable for pino: fd 2 when the CLI writes to the real stderr (synchronous, ordered), else the given stream. */
function stderrDestination(io: CliIo): number | NodeJS.WritableStream {
  // pino only ever calls write() on a destination; the collectors tests pass have it.
  return io.stderr === process.stderr ? 2 : (io.stderr as unknown as NodeJS.WritableStream);
}

export const runCommand = defineCommand({
  name: "run",
  summary: "Run a workflow to its end, embedded or on a fleet over NATS, and show its progress",
  usage: "<file> [--workflow NAME] [--input JSON | --input @file.json] [--executors FILE]... [--schedule phases|eager] [--on-failure fail-fast|continue] [--json] [--nats URL]",
  details: [
    "Embedded by default: the executors are the registries <file> exports plus those of the --executors modules.",
    "With --nats, the run is submitted to a coordinator and followed; workers elsewhere run the tasks.",
    "Without --input, a workflow with an input schema gets {} (so its defaults apply).",
    "",
    "On a terminal: a live progress display, then a table per task and the run's output.",
    "Otherwise (or with --json): pino JSON lines per run event on stderr, the run record as JSON on stdout.",
    "Ctrl-C cancels the run (press it twice to stop waiting).",
    "",
    "Exit codes: 0 the run succeeded, 1 it failed or was cancelled, 2 bad usage or input.",
  ].join("\n"),
  flags: {
    workflow: { type: "string", valueName: "NAME", description: "the workflow to run when <file> exports several" },
    input: { type: "string", valueName: "JSON|@FILE", description: "the run's input: JSON text, or @path to a JSON file" },
    executors: { type: "string", multiple: true, valueName: "FILE", description: "a module exporting executor registries (embedded runs)" },
    schedule: { type: "string", valueName: "MODE", description: 'dispatch phase by phase ("phases", default) or each task once its parents are done ("eager")' },
    "on-failure": { type: "string", valueName: "MODE", description: 'on a failed task, cancel the rest ("fail-fast", default) or let independent tasks finish ("continue")' },
    json: { type: "boolean", description: "print only the run record as JSON on stdout (event log lines on stderr)" },
    ...NATS_FLAGS,
  },
  positionals: { min: 1, max: 1, missing: "missing the workflow file, e.g. phaseflow run examples/etl.ts --executors workers/etl.ts" },
  async run({ values, positionals }, io) {
    const schedule = oneOf("schedule", values.schedule, SCHEDULES);
    const onFailure = oneOf("on-failure", values["on-failure"], ON_FAILURE);
    const remote = values.nats !== undefined;
    if (remote && values.executors !== undefined) {
      throw new UsageError("--executors is for embedded runs; with --nats the workers serve the executors (phaseflow worker --nats URL <modules>)");
    }
    if (!remote) {
      const natsOnly = Object.keys(NATS_FLAGS).filter((f) => f !== "nats" && values[f as keyof typeof NATS_FLAGS] !== undefined);
      if (natsOnly.length > 0) throw new UsageError(`${natsOnly.map((f) => `--${f}`).join(", ")} only apply with --nats URL`);
    }
    const cwd = io.cwd ?? process.cwd();
    const { module, workflow } = await loadWorkflow(positionals[0]!, { cwd, workflow: values.workflow });
    let input: unknown;
    try {
      input = checkRunInput(workflow, readRunInput(values.input, cwd));
    } catch (err) {
      if (!(err instanceof InputValidationError)) throw err;
      io.stderr.write(`phaseflow run: ${formatInputIssues(err)}`);
      return EXIT_USAGE;
    }
    let registry: Registry | undefined;
    if (!remote) {
      registry = await collectExecutors(module, values.executors ?? [], cwd);
      if (registry.keys().length === 0 && workflow.states.some((s) => s.tasks.length > 0)) {
        throw new UsageError(`"${module.file}" exports no executor registry and no --executors were given; pass the modules that register its executors, e.g. phaseflow run examples/etl.ts --executors workers/etl.ts`);
      }
    }

    const live = io.isTTY && values.json !== true;
    let terminal: TerminalView | undefined;
    const logger: Logger = live
      ? // On a terminal only warnings and errors are logged, written above the live display.
        createLogger({
          level: process.env.PHASEFLOW_LOG_LEVEL ?? "warn",
          destination: { write: (s: string) => (terminal ? terminal.write(s) : io.stderr.write(s)) } as unknown as NodeJS.WritableStream,
        })
      : createLogger({ name: "phaseflow-run", destination: stderrDestination(io) });
    const options = { ...(schedule ? { schedule } : {}), ...(onFailure ? { onFailure } : {}) };
    const nats = remote ? natsOptionsFrom(values) : undefined;
    const servers = [nats?.servers ?? []].flat().join(",");

    let session: RunSession;
    let waitingFor: readonly string[] = [];
    if (nats) {
      const started = await startNatsRun({ nats, workflow: workflow.name, input, options, logger });
      session = started;
      waitingFor = started.waitingFor;
    } else {
      session = await startEmbeddedRun({ workflow, registry: registry!, input, options, logger });
    }

    let view: RunView;
    if (live) {
      const totals = Object.fromEntries(workflow.states.map((s) => [s.name, s.tasks.length]));
      view = terminal = createTerminalView({ io, runId: session.runId, workflow: { name: workflow.name, version: workflow.options.version }, totals });
    } else {
      view = createLogView(logger);
    }
    try {
      if (nats && waitingFor.length > 0) view.notice(describeWaiting(session.runId, waitingFor, servers, values.prefix));
      const outcome = await followRun(session, view);
      view.stop();
      const { record } = outcome;
      io.stdout.write(live ? formatRunResult(record) : formatRunJson(record));
      io.stderr.write(describeRunFailure(record));
      if (outcome.abandoned) {
        const where = nats ? `; see it with "phaseflow status ${record.runId} --nats ${servers}${values.prefix !== undefined ? ` --prefix ${values.prefix}` : ""}"` : " (the embedded engine was stopped with it)";
        io.stderr.write(`phaseflow run: stopped waiting for run ${record.runId}${where}\n`);
      }
      return record.status === "succeeded" ? EXIT_OK : EXIT_FAILED;
    } finally {
      view.stop();
      await session.close();
    }
  },
});
