// The fault executors' log of limited executions (`<log>.limits`, one line per begin and per
// end: "begin|end <TAB> key <TAB> pid <TAB> epoch ms <TAB> runId") read back as spans, and the
// most of one key that were ever in flight at once: what the limits' kill -9 tests assert on.
import { existsSync, readFileSync } from "node:fs";

export interface Span {
  key: string;
  runId: string;
  pid: number;
  begin: number;
  /** Undefined while running, or forever on a worker killed mid-execution. */
  end: number | undefined;
}

export function spans(log: string): Span[] {
  if (!existsSync(`${log}.limits`)) return [];
  const open = new Map<string, Span[]>();
  const all: Span[] = [];
  for (const line of readFileSync(`${log}.limits`, "utf8").split("\n").filter(Boolean)) {
    const [kind, key, pid, at, runId] = line.split("\t");
    const id = `${runId}/${pid}`;
    if (kind === "begin") {
      const s: Span = { key: key!, runId: runId!, pid: Number(pid), begin: Number(at), end: undefined };
      all.push(s);
      open.set(id, [...(open.get(id) ?? []), s]);
    } else {
      const s = open.get(id)?.shift();
      if (s) s.end = Number(at);
    }
  }
  return all;
}

/**
 * The most executions of each key ever in flight at once. A span without an end counts as
 * running until `openUntil` (when its worker was killed; by default forever). At one
 * instant, an end goes before a begin: a slot handed on is not an overlap.
 */
export function mostOverlapping(all: Span[], openUntil = Number.MAX_SAFE_INTEGER): Map<string, number> {
  const edges = all.flatMap((s) => [
    { key: s.key, at: s.begin, d: 1 },
    { key: s.key, at: s.end ?? openUntil, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  const now = new Map<string, number>();
  const most = new Map<string, number>();
  for (const e of edges) {
    const n = (now.get(e.key) ?? 0) + e.d;
    now.set(e.key, n);
    most.set(e.key, Math.max(most.get(e.key) ?? 0, n));
  }
  return most;
}
