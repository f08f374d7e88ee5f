/**
 * Loggers: pino, JSON lines on stderr by default so stdout stays free for results.
 * Level from the `PHASEFLOW_LOG_LEVEL` environment variable (default "info").
 */
import { pino } from "pino";
import type { Logger } from "../registry/types.js";

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
  const stream = typeof dest === "number" ? pino.destination({ fd: dest, sync: true }) : dest;
  return pino({ level, ...(options.name ? { name: options.name } : {}) }, stream);
}

/** A logger that drops everything: the default for tests and embedded library use. */
export function createSilentLogger(): Logger {
  return pino({ level: "silent" });
}
