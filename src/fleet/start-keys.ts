/**
 * Start keys in the `<p>_runs` bucket: `key.<hash>` -> the run a key started, written
 * with KV `create()`, so of two coordinators racing to start one key exactly one
 * claim lands and both answer with the same run id. The run's summary remembers the
 * entry (`startKey`), and the retention sweep removes the entry with the run: a key
 * is deduplicated for as long as its run is kept (default 7 days).
 *
 * A key is scoped to its workflow: the same key in two workflows starts two runs.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { TypedKv } from "../transport/fleet-port.js";

export const startKeyEntrySchema = z.object({ workflow: z.string(), key: z.string(), runId: z.string(), at: z.number() });
export type StartKeyEntry = z.infer<typeof startKeyEntrySchema>;

/** Longest start key accepted. */
export const MAX_START_KEY_LENGTH = 512;

/** The KV key of a workflow's start key (hashed: start keys are free text, KV keys are not). */
export function startKeyKvKey(workflow: string, key: string): string {
  return `key.${createHash("sha256").update(workflow).update("\u0000").update(key).digest("hex").slice(0, 40)}`;
}

/**
 * Claim `key` for `runId`, or learn the run that claimed it first.
 * @example
 * const { runId, created } = await claimStartKey(keys, "etl", "2024-01-01", proposedId, Date.now());
 */
export async function claimStartKey(kv: TypedKv<StartKeyEntry>, workflow: string, key: string, runId: string, now: number): Promise<{ runId: string; created: boolean; kvKey: string }> {
  const kvKey = startKeyKvKey(workflow, key);
  try {
    await kv.create(kvKey, { workflow, key, runId, at: now });
    return { runId, created: true, kvKey };
  } catch (err) {
    // create() fails when the key exists; any other failure (server away) leaves it absent and is rethrown.
    const existing = await kv.get(kvKey);
    if (existing === undefined) throw err;
    return { runId: existing.value.runId, created: false, kvKey };
  }
}
