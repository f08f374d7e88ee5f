/**
 * The line the fleet commands print for a run id no coordinator knows. Its own module
 * so the commands that print it (cancel, follow, signal, upgrade, status) need not load
 * each other, nor `status`'s record schemas, to show their own `--help`.
 */

/** What to say about a run id no coordinator knows (instead of the engine's "kept in memory" wording). */
export function describeUnknownRun(runId: string, flags: string): string {
  return `no run "${runId}" on this fleet: no coordinator and no stored history knows it; check the id (and --prefix) with: phaseflow status ${flags}`;
}
