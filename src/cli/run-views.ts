/**
 * The two ways `phaseflow run` shows a run while it goes: on a terminal, the live
 * progress block (progress-render + progress-terminal) with notices written above
 * it; elsewhere (a pipe, a CI log, or `--json`), one pino JSON line per run event on
 * stderr. Either way stdout stays free for the final result.
 */
import type { Logger } from "../registry/types.js";
import type { Clock } from "../support/clock.js";
import { createRecordFold } from "../runtime/core/run-record.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { CliIo } from "./command.js";
import { renderProgress } from "./progress-render.js";
import { createTerminalProgress } from "./progress-terminal.js";
import { describeEvent } from "./run-event-log.js";
import type { RunObserver } from "./run-follow.js";

export interface RunView extends RunObserver {
  /** Stop drawing (the terminal block is erased). Idempotent. */
  stop(): void;
}

/**
 * One pino line per event.
 * @example const view = createLogView(createLogger({ name: "phaseflow-run" }));
 */
export function createLogView(logger: Logger): RunView {
  return {
    event(_record, event) {
      const line = describeEvent(event);
      logger[line.level](line.fields, line.msg);
    },
    notice(text) {
      logger.warn(text);
    },
    stop: () => undefined,
  };
}

export interface TerminalViewOptions {
  io: CliIo;
  runId: string;
  /** Shown until the run's first event arrives. */
  workflow: { name: string; version: string };
  /** Tasks per state as declared, for the bars' totals. */
  totals: Readonly<Record<string, number>>;
  /** Terminal width. Default: stdout's columns, else 80. */
  width?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** The terminal view, plus `write` for text (log lines) that must go above the live block. */
export interface TerminalView extends RunView {
  write(text: string): void;
}

/**
 * The live progress block on stdout; notices and `write` text go to stderr above it.
 * @example const view = createTerminalView({ io, runId, workflow: { name: "etl", version: "1" }, totals: { ingest: 5, report: 1 } });
 */
export function createTerminalView(options: TerminalViewOptions): TerminalView {
  const { io } = options;
  const width = options.width ?? (io.stdout as { columns?: unknown }).columns;
  const now = (): number => (options.clock ?? { now: Date.now }).now();
  let latest: RunRecord = { ...createRecordFold(options.runId).state.record, workflow: options.workflow.name, version: options.workflow.version };
  const display = createTerminalProgress({
    out: io.stdout,
    frame: () => renderProgress(latest, { now: now(), totals: options.totals, width: typeof width === "number" && width > 0 ? width : 80 }),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  return {
    event(record) {
      latest = record;
      display.update();
    },
    notice(text) {
      display.interject(`${text}\n`, io.stderr);
    },
    write(text) {
      display.interject(text.endsWith("\n") ? text : `${text}\n`, io.stderr);
    },
    stop: () => display.stop(),
  };
}
