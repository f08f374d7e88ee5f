/**
 * `phaseflow run [<file>]`: run a workflow and show it. Embedded by default (the
 * executors are the registries the workflow module exports plus those of the
 * `--executors` modules). With `--nats URL` the run is submitted to the coordinators:
 * by the file's workflow (its plan hash is sent along, and a coordinator serving
 * another plan under that name refuses unless `--force`), or by name alone
 * (`--workflow NAME`, no file). It is then followed from its history, or with
 * `--detach` only its id is printed. Input is checked before anything starts (against
 * the file's schema when there is a file, else by the coordinator).
 *
 * On a terminal it draws a live progress block and ends with a per-task table and
 * the run's output; off a terminal, or with `--json`, it logs one pino line per run
 * event on stderr and prints the run record as JSON on stdout. Ctrl-C cancels an
 * embedded run; on a fleet run it stops following (the run goes on).
 */
import { resolve } from "node:path";
import { archiveOf } from "../../archive/archive.js";
import { archiveFormatOf, writeArchive, type ArchiveFormat } from "../../archive/write.js";
import { compile } from "../../compiler/compile.js";
import { InputValidationError, UsageError } from "../../errors/base.js";
import { PlanHashMismatchError } from "../../errors/fleet.js";
import type { Workflow } from "../../dsl/workflow.js";
import type { Plan } from "../../plan/schema.js";
import { defineCommand, type CliIo } from "../command.js";
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { loadWorkflow, type LoadedModule } from "../load-module.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom, untilSignal } from "../nats-flags.js";
import { startEmbeddedRun, type EmbeddedRunOptions } from "../run-embedded.js";
import { UI_AUTH_FLAG, uiOpenUrl, uiServerOptionsFrom } from "../ui-flags.js";
import { resolveUiServerOptions, type UiServerOptions } from "../../ui/ui-options.js";
import { collectExecutors } from "../run-executors.js";
import { checkRunInput, formatInputIssues, readRunInput } from "../run-input.js";
import type { NatsRunSession } from "../run-nats.js";
import { createRunLogger, showRun } from "../run-show.js";
import { closeWithin, DRAIN_FLAG, drainTimeoutFrom } from "../shutdown.js";

const SCHEDULES = ["phases", "eager"] as const;
const ON_FAILURE = ["fail-fast", "continue"] as const;

function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} "${value}" must be one of ${allowed.join(", ")}`);
}

const totalsOf = (plan: Plan): Record<string, number> => Object.fromEntries(plan.states.map((s) => [s.name, s.tasks.length]));

export const runCommand = defineCommand({
  name: "run",
  summary: "Run a workflow, embedded or on a fleet over NATS, and show its progress",
  usage: "<file> [--workflow NAME] [--input JSON | --input @file.json] [--executors FILE]... [--json] [--export FILE]... [--ui [--ui-port PORT]]\n       phaseflow run [<file>] --nats URL [--workflow NAME] [--input ...] [--key K] [--detach] [--force] [--json]",
  details: [
    "Embedded by default: the executors are the registries <file> exports plus those of the --executors modules.",
    "With --nats, the run is submitted to the coordinators and followed; workers elsewhere run the tasks.",
    "  Without <file>, --workflow NAME names a workflow the coordinators serve (they check the input).",
    "  With <file>, its plan must be the one the coordinators serve under that name, else the run is",
    "  refused (exit 2) unless --force. --detach prints the run id (--json: the start reply) and exits 0;",
    "  follow it later with 'phaseflow follow <runId> --nats URL'.",
    "Without --input, a workflow with an input schema gets {} (so its defaults apply).",
    "--key K makes the start idempotent: with --nats, a run already started with key K (and kept, 7 days by",
    "  default) is followed instead of starting another. Embedded, a key only lasts the one process.",
    "With --ui (embedded runs), the web view of the run is served on 127.0.0.1:8080 (--ui-port, --ui-host);",
    "  it stays up after the run ends, to look at it or retry it, until Ctrl-C.",
    "",
    "On a terminal: a live progress display, then a table per task and the run's output.",
    "Otherwise (or with --json): pino JSON lines per run event on stderr, the run record as JSON on stdout.",
    "Ctrl-C cancels an embedded run (press it twice to stop waiting); on a fleet run it stops following",
    "and the run goes on (cancel it with 'phaseflow cancel <runId>').",
    "",
    "Exit codes: 0 the run succeeded (or was submitted, with --detach), 1 it failed or was cancelled,",
    "2 bad usage or input, 130 stopped following a fleet run.",
  ].join("\n"),
  flags: {
    workflow: { type: "string", valueName: "NAME", description: "the workflow to run when <file> exports several; with --nats and no <file>, the served workflow to run" },
    input: { type: "string", once: true, valueName: "JSON|@FILE", description: "the run's input: JSON text, or @path to a JSON file" },
    executors: { type: "string", multiple: true, valueName: "FILE", description: "a module exporting executor registries (embedded runs)" },
    schedule: { type: "string", valueName: "MODE", description: 'dispatch phase by phase ("phases", default) or each task once its parents are done ("eager")' },
    "on-failure": { type: "string", valueName: "MODE", description: 'on a failed task, cancel the rest ("fail-fast", default) or let independent tasks finish ("continue")' },
    priority: { type: "string", once: true, valueName: "P", description: "the run's priority, 1 (first) to 5 (last): where tasks wait for worker slots, higher priority goes first; default: the workflow's, else 3" },
    seed: { type: "string", once: true, valueName: "N", description: "the run's seed (0 to 4294967295): each task's ctx.seed derives from it; default: derived from the run id" },
    json: { type: "boolean", description: "print only the run record as JSON on stdout (event log lines on stderr); with --detach, the start reply" },
    detach: { type: "boolean", description: "with --nats: submit, print the run id and exit without following" },
    version: { type: "string", once: true, valueName: "V", description: "the workflow version to run: with <file>, the one it exports of that version; with --nats, the coordinators start it (default: the latest version served)" },
    key: { type: "string", once: true, valueName: "K", description: "start key: with --nats, a second run with the same key follows the run the first started instead of starting another (for the retention period)" },
    force: { type: "boolean", description: "with --nats and <file>: submit even when the coordinators serve another plan of the workflow" },
    export: { type: "string", multiple: true, valueName: "FILE", description: "embedded runs: at the end, write the run's history and record to FILE (.json, or .sqlite/.db: SQLite); may be given more than once" },
    "export-format": { type: "string", valueName: "FORMAT", description: "the --export format when the extension does not say it: json or sqlite" },
    ui: { type: "boolean", description: "embedded runs: serve the web view of the run (it stays up after the run until Ctrl-C; retry from it)" },
    "ui-port": { type: "string", valueName: "PORT", description: "with --ui: the web view's TCP port (default 8080; 0 picks a free one)" },
    "ui-host": { type: "string", valueName: "HOST", description: "with --ui: the interface it listens on (default 127.0.0.1; others need --auth-token)" },
    ...UI_AUTH_FLAG,
    ...NATS_FLAGS,
    ...DRAIN_FLAG,
  },
  positionals: { min: 0, max: 1 },
  async run({ values, positionals }, io) {
    const schedule = oneOf("schedule", values.schedule, SCHEDULES);
    const onFailure = oneOf("on-failure", values["on-failure"], ON_FAILURE);
    const remote = values.nats !== undefined;
    const file = positionals[0];
    if (file === undefined && !remote) {
      throw new UsageError("missing the workflow file, e.g. phaseflow run examples/etl.ts --executors workers/etl.ts; or, to run a workflow the coordinators serve: phaseflow run --nats URL --workflow NAME");
    }
    if (file === undefined && values.workflow === undefined) throw new UsageError("with --nats and no workflow file, name the workflow the coordinators serve: --workflow NAME");
    if (remote && (values.export !== undefined || values["export-format"] !== undefined)) {
      throw new UsageError("--export is for embedded runs; archive a fleet run with: phaseflow export <runId> --nats URL --out FILE");
    }
    if (values.ui === true && values.export !== undefined) throw new UsageError("--export and --ui cannot be combined yet; run with --export for the archive, or with --ui to watch and retry");
    const exportTo = (values.export ?? []).map((f) => ({ file: resolve(io.cwd ?? process.cwd(), f), format: archiveFormatOf(values["export-format"], f, "--export-format") }));
    if (exportTo.length === 0 && values["export-format"] !== undefined) throw new UsageError("--export-format needs --export FILE");
    if (remote && values.executors !== undefined) {
      throw new UsageError("--executors is for embedded runs; with --nats the workers serve the executors (phaseflow worker --nats URL <modules>)");
    }
    if (!remote) {
      const fleetOnly = [...Object.keys(NATS_FLAGS), "detach", "force", "drain-timeout"].filter((f) => f !== "nats" && values[f as keyof typeof values] !== undefined);
      if (fleetOnly.length > 0) throw new UsageError(`${fleetOnly.map((f) => `--${f}`).join(", ")} only apply with --nats URL`);
    }
    if (values.ui !== true) {
      const uiOnly = ["ui-port", "ui-host", "auth-token"].filter((f) => values[f as keyof typeof values] !== undefined);
      if (uiOnly.length > 0) throw new UsageError(`${uiOnly.map((f) => `--${f}`).join(", ")} only apply with --ui`);
    } else if (remote) {
      throw new UsageError(`--ui is for embedded runs; to watch a fleet's runs, start the web view with: phaseflow ui ${natsFlagsText(values)}`);
    }
    const uiServer = values.ui === true ? uiServerOptionsFrom(values["ui-port"], values["ui-host"], values["auth-token"], "ui-port") : undefined;
    if (uiServer) resolveUiServerOptions(uiServer);
    if (values.force === true && file === undefined) throw new UsageError("--force only matters with a workflow file (it skips the plan check against the coordinators)");
    const drainMs = drainTimeoutFrom(values["drain-timeout"]);
    const cwd = io.cwd ?? process.cwd();
    const local = file === undefined ? undefined : await loadWorkflow(file, { cwd, workflow: values.workflow, version: values.version });
    let input: unknown;
    try {
      const raw = readRunInput(values.input, cwd);
      input = local ? checkRunInput(local.workflow, raw) : (raw ?? {});
    } catch (err) {
      if (!(err instanceof InputValidationError)) throw err;
      io.stderr.write(`phaseflow run: ${formatInputIssues(err)}`);
      return EXIT_USAGE;
    }
    const seed = seedFrom(values.seed);
    if (values.key !== undefined && (values.key.length === 0 || values.key.length > 512)) throw new UsageError("--key must be 1 to 512 characters");
    const priority = priorityFrom(values.priority);
    const options = { ...(schedule ? { schedule } : {}), ...(onFailure ? { onFailure } : {}), ...(seed !== undefined ? { seed } : {}), ...(values.key !== undefined ? { key: values.key } : {}), ...(priority !== undefined ? { priority } : {}) };
    const live = io.isTTY && values.json !== true;
    if (!remote) return runEmbedded(io, local!, values.executors ?? [], input, options, live, uiServer, exportTo);

    const log = createRunLogger(io, live, "phaseflow-run");
    const nats = natsOptionsFrom(values);
    const flags = natsFlagsText(values);
    const plan = local ? compile(local.workflow) : undefined;
    const name = local?.workflow.name ?? values.workflow!;
    // NATS is loaded only for a run on a fleet.
    const { describeWaiting, servedPlan, startNatsRun } = await import("../run-nats.js");
    let session: NatsRunSession;
    try {
      // A file names its version (the one --version picked); without a file, --version or the latest served.
      const version = local?.workflow.version ?? values.version;
      session = await startNatsRun({ nats, workflow: name, input, options: { ...options, ...(version !== undefined && values.force !== true ? { version } : values.version !== undefined ? { version: values.version } : {}) }, planHash: values.force === true ? undefined : plan?.planHash, logger: log.logger });
    } catch (err) {
      if (err instanceof PlanHashMismatchError || err instanceof InputValidationError) {
        io.stderr.write(`phaseflow run: ${err.message}\n`);
        return EXIT_USAGE;
      }
      throw err;
    }
    try {
      const { started } = session;
      const notices: string[] = [];
      if (plan && started.planHash !== plan.planHash) {
        notices.push(`run ${started.runId} runs the coordinators' plan ${started.planHash.slice(0, 12)} of "${name}", not plan ${plan.planHash.slice(0, 12)} of ${file} (--force)`);
      }
      // Queued by the workflow's concurrency: one line saying for what ("queued: workflow limit sync[ann] 1/1 in use, 0 queued ahead"); following goes on.
      if (started.queued !== undefined) notices.push(started.queued);
      if (started.waitingFor.length > 0) notices.push(describeWaiting(started.runId, started.waitingFor, flags));
      if (started.existing) notices.push(`key "${values.key ?? ""}" had already started run ${started.runId}; nothing new was started`);
      if (values.detach === true) {
        io.stdout.write(values.json === true ? `${JSON.stringify({ workflow: name, ...started }, null, 2)}\n` : `${started.runId}\n`);
        for (const n of notices) io.stderr.write(`phaseflow run: ${n}\n`);
        io.stderr.write(`phaseflow run: submitted run ${started.runId}; follow it with: phaseflow follow ${started.runId} ${flags}\n`);
        return EXIT_OK;
      }
      const served = plan && started.planHash === plan.planHash ? plan : await servedPlan(session.client, name, started.planHash);
      return await showRun({
        io,
        session,
        live,
        log,
        workflow: { name, version: served?.version ?? local?.workflow.options.version ?? "" },
        totals: served ? totalsOf(served) : undefined,
        notices,
        fleetFlags: flags,
        command: "phaseflow run",
      });
    } finally {
      await closeWithin(() => session.close(), drainMs, log.logger, "phaseflow run");
    }
  },
});

async function runEmbedded(
  io: CliIo,
  local: { module: LoadedModule; workflow: Workflow<unknown> },
  executorFiles: readonly string[],
  input: unknown,
  options: { schedule?: "phases" | "eager"; onFailure?: "fail-fast" | "continue"; seed?: number; key?: string; priority?: number },
  live: boolean,
  uiServer: UiServerOptions | undefined,
  exportTo: readonly { file: string; format: ArchiveFormat }[],
): Promise<number> {
  const cwd = io.cwd ?? process.cwd();
  const { module, workflow } = local;
  const registry = await collectExecutors(module, executorFiles, cwd);
  if (registry.keys().length === 0 && workflow.states.some((s) => s.tasks.length > 0)) {
    throw new UsageError(`"${module.file}" exports no executor registry and no --executors were given; pass the modules that register its executors, e.g. phaseflow run examples/etl.ts --executors workers/etl.ts`);
  }
  const log = createRunLogger(io, live, "phaseflow-run");
  if (uiServer) return runEmbeddedWithUi(io, { workflow, registry, input, options, logger: log.logger }, uiServer, live, log);
  const session = await startEmbeddedRun({ workflow, registry, input, options, logger: log.logger });
  try {
    const code = await showRun({
      io,
      session,
      live,
      log,
      workflow: { name: workflow.name, version: workflow.options.version },
      totals: Object.fromEntries(workflow.states.map((s) => [s.name, s.tasks.length])),
      command: "phaseflow run",
    });
    if (exportTo.length === 0) return code;
    const archive = archiveOf(session.runId, await session.history());
    let written = code;
    for (const { file, format } of exportTo) {
      try {
        await writeArchive(archive, file, format);
        io.stderr.write(`phaseflow run: archive of run ${session.runId} written to ${file} (${format})\n`);
      } catch (err) {
        io.stderr.write(`phaseflow run: the archive could not be written to ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
        if (written === EXIT_OK) written = EXIT_FAILED;
      }
    }
    return written;
  } finally {
    await session.close();
  }
}

/** `--priority P`: 1 (first) to 5 (last). */
function priorityFrom(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isInteger(n) || n < 1 || n > 5) throw new UsageError(`--priority "${text}" is not a priority; use a whole number from 1 (first) to 5 (last)`);
  return n;
}

/** `--seed N`: a 32-bit unsigned integer. */
function seedFrom(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,10}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isInteger(n) || n > 0xffff_ffff) throw new UsageError(`--seed "${text}" is not a seed; use a whole number from 0 to 4294967295`);
  return n;
}

/** An embedded run with the web view: shown as usual, then the view stays up (a retry from it runs here) until Ctrl-C. */
async function runEmbeddedWithUi(io: CliIo, run: EmbeddedRunOptions, server: UiServerOptions, live: boolean, log: ReturnType<typeof createRunLogger>): Promise<number> {
  // The web view (HTTP server, its backend) is loaded only with --ui.
  const { startEmbeddedRunWithUi } = await import("../run-embedded-ui.js");
  const started = await startEmbeddedRunWithUi({ ...run, server });
  const { session, ui } = started;
  try {
    const link = uiOpenUrl(`${ui.url}#/runs/${session.runId}`, server);
    io.stderr.write(`phaseflow run: web view of run ${session.runId}: ${uiOpenUrl(ui.url, server)}${server.authToken === undefined ? `#/runs/${session.runId}` : ""}\n`);
    log.logger.info({ url: link, runId: session.runId }, "web view started");
    const code = await showRun({
      io,
      session,
      live,
      log,
      workflow: { name: run.workflow.name, version: run.workflow.options.version },
      totals: Object.fromEntries(run.workflow.states.map((s) => [s.name, s.tasks.length])),
      command: "phaseflow run",
    });
    if (code === EXIT_INTERRUPTED) return code;
    io.stderr.write(`phaseflow run: the web view stays up at ${ui.url} (retry the run from it); press Ctrl-C to stop\n`);
    log.logger.info({ url: ui.url }, "run ended; web view still up");
    await untilSignal();
    return started.status() === "succeeded" ? EXIT_OK : EXIT_FAILED;
  } finally {
    await session.close();
  }
}
