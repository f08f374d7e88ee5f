/**
 * Loggers: pino, JSON lines on stderr by default so stdout stays free for results.
 * Level from the `PHASEFLOW_LOG_LEVEL` environment variable (default "info").
 *
 * pino (and the modules it pulls in) is loaded on the first logger made, not when
 * phaseflow is imported: a workflow module imports phaseflow, and `phaseflow compile`
 * or a program that only authors and compiles makes no logger. pino is CommonJS, so
 * a synchronous `require` keeps `createLogger` synchronous.
 */
import { createRequire } from "node:module";
import type * as Pino from "pino";
import type { Logger } from "../registry/types.js";

let loaded: typeof Pino.pino | undefined;

/** pino itself, required on first use (the same instance an `import "pino"` gets). */
function pino(): typeof Pino.pino {
  return (loaded ??= (createRequire(import.meta.url)("pino") as typeof Pino).pino);
}

export interface LoggerOptions {
  /** Default `process.env.PHASEFLOW_LOG_LEVEL ?? "info"`. */
  level?: string;
  name?: string;
  /** Where lines go. Default: stderr (fd 2). */
  destination?: number | NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.PHASEFLOW_LOG_LEVEL ?? "info";
  const dest = options.destination ?? 2;
  const stream = typeof dest === "number" ? pino().destination({ fd: dest, sync: true }) : dest;
  return pino()({ level, ...(options.name ? { name: options.name } : {}) }, stream);
}

/** A logger that drops everything: the default for tests and embedded library use. */
export function createSilentLogger(): Logger {
  return pino()({ level: "silent" });
}
