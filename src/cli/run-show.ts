/**
 * Showing one run while it goes, shared by `phaseflow run` (embedded and on a fleet)
 * and `phaseflow follow`: the live progress display on a terminal or pino lines
 * elsewhere, then the summary and the exit code. A fleet run that the user stopped
 * following (Ctrl-C) is left running, and the lines say how to follow or cancel it.
 */
import type { Logger } from "../registry/types.js";
import { createLogger } from "../support/logger.js";
import type { CliIo } from "./command.js";
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK } from "./exit-codes.js";
import { followRun, type RunSession } from "./run-follow.js";
import { describeRunFailure, formatRunJson, formatRunResult } from "./run-summary.js";
import { createLogView, createTerminalView, type RunView, type TerminalView } from "./run-views.js";

/** A writable for pino: fd 2 when the CLI writes to the real stderr (synchronous, ordered), else the given stream. */
function stderrDestination(io: CliIo): number | NodeJS.WritableStream {
  // pino only ever calls write() on a destination; the collectors tests pass have it.
  return io.stderr === process.stderr ? 2 : (io.stderr as unknown as NodeJS.WritableStream);
}

export interface RunLogger {
  logger: Logger;
  /** Log lines go above this live display from now on. */
  attach(view: TerminalView): void;
}

/**
 * The logger of a shown run: on a terminal only warnings and errors, written above the
 * live display; elsewhere every line, as pino JSON on stderr.
 */
export function createRunLogger(io: CliIo, live: boolean, name: string): RunLogger {
  let terminal: TerminalView | undefined;
  const logger = live
    ? createLogger({
        level: process.env.PHASEFLOW_LOG_LEVEL ?? "warn",
        destination: { write: (s: string) => (terminal ? terminal.write(s) : io.stderr.write(s)) } as unknown as NodeJS.WritableStream,
      })
    : createLogger({ name, destination: stderrDestination(io) });
  return { logger, attach: (view) => (terminal = view) };
}

export interface ShowRunOptions {
  io: CliIo;
  session: RunSession;
  /** A terminal display (else log lines and the record as JSON). */
  live: boolean;
  log: RunLogger;
  /** Shown until the first event arrives. */
  workflow: { name: string; version: string };
  /** Tasks per state in the plan, so bars count tasks not started yet. */
  totals?: Readonly<Record<string, number>> | undefined;
  /** Shown before following starts (e.g. which executors the run waits for). */
  notices?: readonly string[];
  /** For a fleet run, the connection flags to repeat in hints, e.g. "--nats nats://h:4222 --prefix pf". */
  fleetFlags?: string | undefined;
  /** "phaseflow run" or "phaseflow follow", prefixing stderr lines. */
  command: string;
}

/**
 * Follow the session's run to its end (or until Ctrl-C), print the summary and return
 * the exit code: 0 succeeded, 1 failed or cancelled, 130 stopped following a fleet run.
 */
export async function showRun(o: ShowRunOptions): Promise<number> {
  const { io, session } = o;
  let view: RunView;
  if (o.live) {
    const terminal = createTerminalView({ io, runId: session.runId, workflow: o.workflow, totals: o.totals ?? {} });
    o.log.attach(terminal);
    view = terminal;
  } else {
    view = createLogView(o.log.logger);
  }
  try {
    for (const n of o.notices ?? []) view.notice(n);
    const outcome = await followRun(session, view);
    view.stop();
    const { record } = outcome;
    if (outcome.abandoned && o.fleetFlags !== undefined) {
      io.stderr.write(
        `${o.command}: stopped following run ${record.runId}; it goes on on the fleet (${record.status} when last seen).\n` +
          `  follow it again:  phaseflow follow ${record.runId} ${o.fleetFlags}\n` +
          `  cancel it:        phaseflow cancel ${record.runId} ${o.fleetFlags}\n`,
      );
      return EXIT_INTERRUPTED;
    }
    io.stdout.write(o.live ? formatRunResult(record) : formatRunJson(record));
    io.stderr.write(describeRunFailure(record, o.command));
    if (outcome.abandoned) io.stderr.write(`${o.command}: stopped waiting for run ${record.runId} (the embedded engine was stopped with it)\n`);
    return record.status === "succeeded" ? EXIT_OK : EXIT_FAILED;
  } finally {
    view.stop();
  }
}
