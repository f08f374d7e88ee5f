// A retry storm must not wedge a coordinator: 1,000 junk reports (which a worker-role
// user may publish) in a failed run's history, then 100 concurrent `run.retry` requests
// for it. Concurrent requests join one read of the history instead of each reading it,
// the junk is logged as a count (not one line per message per read), every request gets
// its answer, and a new one-task run started during the storm finishes meanwhile.
// Before the fix, the coordinator's own NATS calls timed out under the storm: even the
// new run's start was answered with a timeout.
import { jetstream } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { COORDINATOR, useFleet } from "./support.js";

const JUNK = 1_000;
const REQUESTS = 100;
/** Generous for a loaded machine: an idle coordinator ends a one-task run in well under a second; a wedged one did not in minutes. */
const FRESH_RUN_DEADLINE_MS = 30_000;

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Reply {
  ok?: boolean;
  error?: { code: string; message: string };
  failed?: string;
}

describe("faults - a retry storm", () => {
  const fleet = useFleet("fstorm", { coordinators: [[...COORDINATOR, "--id", "c1"]], workers: ["w1"] });

  it("faults - 100 concurrent retries of a failed run with 1,000 junk reports: reads are shared, the junk is logged as a count, a new run finishes meanwhile", async () => {
    const coordinator = fleet.coordinators[0]!;
    const nc = fleet.client.transport.connection;
    const coordinatorId = String((await coordinator.waitForLog((l) => l.msg === "coordinator started")).coordinatorId);
    const historyReads = async (): Promise<number> =>
      (JSON.parse(dec.decode((await nc.request(`fstorm.api.coordinator.${coordinatorId}.stats`, enc.encode("{}"), { timeout: 60_000 })).data)) as { historyReads: number }).historyReads;

    const { runId } = await fleet.client.start("poison", undefined);
    expect((await fleet.finish(runId)).record.status).toBe("failed");
    const js = jetstream(nc);
    await Promise.all(Array.from({ length: JUNK }, (_, i) => js.publish(`fstorm.evt.${runId}.r`, enc.encode(JSON.stringify({ junk: i })))));

    const linesBefore = coordinator.lines.length;
    const reads0 = await historyReads();
    const storm = Promise.all(
      Array.from({ length: REQUESTS }, () =>
        nc.request("fstorm.api.run.retry", enc.encode(JSON.stringify({ runId })), { timeout: 120_000 }).then(
          (m) => JSON.parse(dec.decode(m.data)) as Reply,
          (err: unknown): Reply => ({ failed: String(err) }),
        ),
      ),
    );
    // A new one-task run while the storm is on: it must not wait for the storm.
    const fresh = await fleet.client.start("single", { ms: 50 });
    const freshEnd = await Promise.race([
      fleet.client.waitForEnd(fresh.runId),
      new Promise<"still running">((r) => setTimeout(() => r("still running"), FRESH_RUN_DEADLINE_MS)),
    ]);
    const replies = await storm;
    expect(freshEnd === "still running" ? freshEnd : freshEnd.status).toBe("succeeded");

    // Every request answered: accepted (a request that came while the run was failed), or
    // refused because a retry is under way; no timeouts, no coordinator errors.
    expect(replies.filter((r) => r.failed !== undefined)).toEqual([]);
    const accepted = replies.filter((r) => r.ok === true).length;
    expect(accepted).toBeGreaterThanOrEqual(1);
    for (const r of replies.filter((x) => x.ok !== true)) expect(r.error?.code, JSON.stringify(r)).toBe("USAGE");

    // Requests that find a retry under way are refused without a read; those that come
    // while the run is failed share its reads (one running, one that all later arrivals
    // join, tests/unit/shared-reads.test.ts): a few reads per retry the storm started, not
    // one read per request (before the fix: one per request and more).
    const stormReads = (await historyReads()) - reads0;
    expect(stormReads, `${accepted} retries accepted`).toBeLessThan(REQUESTS / 4);
    // The junk is counted in a few lines, not logged once per message per read.
    const junkLines = coordinator.lines.slice(linesBefore).filter((l) => typeof l.msg === "string" && l.msg.includes("malformed"));
    expect(junkLines.length).toBeLessThanOrEqual(5);
  }, 300_000);
});
