/**
 * Reproducible seeds: a run has a 32-bit seed (given at start, or derived from the run
 * id) recorded in its history; each task attempt gets `ctx.seed`, derived from the run
 * seed, the task id and, for a map instance, its index. It depends on nothing else (not
 * the attempt, the worker, the visit or the time), so every retry, redelivery and re-run
 * of the same run sees the same value, embedded or on the fleet.
 */
import { sha256Hex } from "../../support/hash.js";

const uint32Of = (text: string): number => Number.parseInt(sha256Hex(text).slice(0, 8), 16);

/** The default seed of a run: from its id. */
export function seedOfRunId(runId: string): number {
  return uint32Of(`phaseflow-run-seed\u0000${runId}`);
}

/**
 * `ctx.seed` of task `taskId` (`state/task`), instance `index` of a map (or none).
 * @example taskSeed(42, "grid/run", 3) // the same number on every machine and attempt
 */
export function taskSeed(runSeed: number, taskId: string, index?: number): number {
  return uint32Of(`${runSeed}\u0000${taskId}\u0000${index ?? ""}`);
}
