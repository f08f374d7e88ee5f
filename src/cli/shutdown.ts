/**
 * Stopping a long-running command (`worker`, `coordinator`, `run --nats`, `follow`) in
 * bounded time. Closing a NATS connection drains it, and with the server gone a drain
 * never ends; so every close is raced against the command's drain timeout, and a
 * second SIGINT/SIGTERM during it gives up at once. Whatever is left (reconnect
 * timers of a dead connection) is ended by `main.ts`, which exits the process once
 * the command has returned.
 */
import type { Logger } from "../registry/types.js";
import { UsageError } from "../errors/base.js";
import type { FlagSpec } from "./command.js";

export const DRAIN_FLAG = {
  "drain-timeout": { type: "string", valueName: "MS", description: "on SIGTERM/SIGINT, the longest the process takes to close before it exits anyway (default 10000; a second signal exits at once)" },
} as const satisfies Record<string, FlagSpec>;

/** The `--drain-timeout` value in ms. */
export function drainTimeoutFrom(value: string | undefined, fallback = 10_000): number {
  if (value === undefined) return fallback;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 0) throw new UsageError(`--drain-timeout "${value}" must be a whole number of milliseconds`);
  return ms;
}

/** Kept back from the drain timeout for the exit itself, so the process is gone within it. */
const EXIT_MARGIN_MS = 250;

export type CloseOutcome = "closed" | "timeout" | "signal" | "failed";

/**
 * Run `close`, but return shortly before `timeoutMs` (so the process can be gone by
 * then) or on the next SIGINT/SIGTERM if it has not finished. A close that throws is logged, not rethrown: the process is ending.
 * @example const outcome = await closeWithin(() => worker.stop(), 10_000, logger, "worker");
 */
export async function closeWithin(close: () => Promise<void>, timeoutMs: number, logger: Logger, what: string): Promise<CloseOutcome> {
  let timer: NodeJS.Timeout | undefined;
  let onSignal: (() => void) | undefined;
  const limits = new Promise<CloseOutcome>((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.max(0, timeoutMs - EXIT_MARGIN_MS));
    onSignal = () => resolve("signal");
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  const closing = close().then(
    (): CloseOutcome => "closed",
    (err: unknown): CloseOutcome => {
      logger.error({ err }, `${what}: closing failed`);
      return "failed";
    },
  );
  try {
    const outcome = await Promise.race([closing, limits]);
    if (outcome === "timeout") logger.warn({ timeoutMs }, `${what}: not closed within the drain timeout (is NATS reachable?); exiting anyway`);
    if (outcome === "signal") logger.warn(`${what}: second signal; exiting without waiting`);
    return outcome;
  } finally {
    clearTimeout(timer);
    if (onSignal) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  }
}
