/**
 * Fetching the payloads a run's decider reads (effect `resolve`: guards, routes, map
 * `items`, a child's input, limit keys, a sleep's `until` over `inlineBytes`), with a few
 * tries and a growing pause between them. A payload that is gone or corrupt is not asked
 * for again: that stays so.
 */
import { PhaseflowError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import type { Clock } from "../../support/clock.js";
import { PayloadMissingError, type PayloadRef, type Payloads } from "../../transport/payloads.js";
import type { PayloadCache } from "./payload-cache.js";

/** Tries before the run fails; pauses of 0.5, 1 and 2 s between them. */
export const PAYLOAD_FETCH_TRIES = 4;

export interface PayloadFetchDeps {
  payloads: Payloads | undefined;
  cache: PayloadCache;
  clock: Clock;
  log: Logger;
  /** The run stopped meanwhile: give up quietly. */
  stopped: () => boolean;
}

/** "fetched", "stopped", or the error to fail the run with (after logging it). */
export async function fetchForDecider(d: PayloadFetchDeps, refs: readonly PayloadRef[]): Promise<"fetched" | "stopped" | { error: unknown }> {
  let lastError: unknown;
  for (let i = 0; i < PAYLOAD_FETCH_TRIES && !d.stopped(); i++) {
    if (i > 0) await new Promise<void>((resolve) => d.clock.setTimeout(resolve, 500 * 2 ** (i - 1)));
    try {
      if (!d.payloads) throw new PayloadMissingError(refs[0]?.$pfref ?? "?");
      await d.cache.fetch(d.payloads, refs);
      return "fetched";
    } catch (err) {
      lastError = err;
      // Gone or corrupt stays so: no use asking again.
      if (err instanceof PayloadMissingError || (err instanceof PhaseflowError && !err.retryable)) break;
      d.log.warn({ err, refs: refs.map((r) => r.$pfref) }, "could not fetch payloads the run's guards, routes or map items read; trying again");
    }
  }
  if (d.stopped()) return "stopped";
  d.log.error({ err: lastError, refs: refs.map((r) => r.$pfref) }, "the run fails: payloads its guards, routes or map items read cannot be fetched");
  return { error: lastError };
}
