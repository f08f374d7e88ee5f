// README "Traffic control" through kill -9: 2 coordinators and 2 workers, 20 runs of a task
// limited to 2 in flight per key; a coordinator and a worker are killed mid-way. Every run
// succeeds, and the executors' own log never shows more than 2 of one key overlapping (an
// execution on a killed worker counts as running until its process died).
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { twoCoordinators, useFleet, waitForExecution } from "./support.js";

interface Span {
  key: string;
  pid: number;
  begin: number;
  end: number | undefined;
}

function spans(log: string): Span[] {
  if (!existsSync(`${log}.limits`)) return [];
  const open = new Map<string, Span[]>();
  const all: Span[] = [];
  for (const line of readFileSync(`${log}.limits`, "utf8").split("\n").filter(Boolean)) {
    const [kind, key, pid, at, runId] = line.split("\t");
    const id = `${runId}/${pid}`;
    if (kind === "begin") {
      const s: Span = { key: key!, pid: Number(pid), begin: Number(at), end: undefined };
      all.push(s);
      open.set(id, [...(open.get(id) ?? []), s]);
    } else {
      const s = open.get(id)?.shift();
      if (s) s.end = Number(at);
    }
  }
  return all;
}

/** The most executions of one key ever in flight at once; unended ones (on the killed worker) run until `killedAt`. */
function mostOverlapping(all: Span[], killedAt: number): Map<string, number> {
  const most = new Map<string, number>();
  const edges = all.flatMap((s) => [
    { key: s.key, at: s.begin, d: 1 },
    { key: s.key, at: s.end ?? killedAt, d: -1 },
  ]);
  // At one instant, an end goes before a begin (a slot handed on is not an overlap).
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  const now = new Map<string, number>();
  for (const e of edges) {
    const n = (now.get(e.key) ?? 0) + e.d;
    now.set(e.key, n);
    most.set(e.key, Math.max(most.get(e.key) ?? 0, n));
  }
  return most;
}

describe("faults - task limits through kill -9", () => {
  const fleet = useFleet("flim", twoCoordinators("lim-a", "lim-b"));

  it("faults - 20 runs limited to 2 per key: kill -9 of a coordinator and of a worker mid-way, every run succeeds and no key ever has more than 2 in flight", async () => {
    const keys = ["acme", "zeta"];
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => fleet.client.start("limited", { key: keys[i % 2]!, ms: 600 })));
    // Mid-way: a few executions have begun.
    await waitForExecution(fleet.log, runs[3]!.runId, () => true, 60_000);
    const coordinator = fleet.coordinators[0]!;
    coordinator.kill("SIGKILL");
    const started = spans(fleet.log).filter((s) => s.end === undefined);
    const victim = [...fleet.workers.values()].find((w) => started.some((s) => s.pid === w.pid)) ?? fleet.workers.get("w1")!;
    const killedAt = Date.now();
    victim.kill("SIGKILL");
    // Both are gone before any API request is sent: a request delivered to the dying
    // coordinator in its last instant would wait out the client's timeout.
    await Promise.all([coordinator.exited, victim.exited]);
    const records = await Promise.all(runs.map(async ({ runId }) => (await fleet.finish(runId)).record));
    expect(records.map((r) => r.status)).toEqual(records.map(() => "succeeded"));
    const all = spans(fleet.log);
    // Only the killed worker leaves executions without an end.
    expect(new Set(all.filter((x) => x.end === undefined).map((x) => x.pid)).size).toBeLessThanOrEqual(1);
    const most = mostOverlapping(all, killedAt);
    expect(Math.max(...most.values())).toBeLessThanOrEqual(2);
    // The limit did bind: both keys had 2 at once.
    expect(most.get("acme")).toBe(2);
    expect(most.get("zeta")).toBe(2);
  }, 240_000);
});
