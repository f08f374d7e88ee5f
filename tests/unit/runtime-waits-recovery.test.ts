// Wait nodes across a coordinator crash, on fake time over a shared memory hub: the
// sleep's due time and the signals are in the history, so a new coordinator that
// resumes after the sleep came due (and after a signal was stored while none was up)
// wakes the sleep at once and hands the waiting signal node its signal.
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { WIRE_VERSION } from "../../src/transport/messages.js";
import { waitForEvent } from "../support/runtime-fixtures.js";
import { createCluster, type Cluster } from "./runtime-recovery-support.js";

let c: Cluster;
afterEach(async () => {
  await c.close();
});

function flow() {
  const wf = workflow("wake", { version: "1" });
  const s = wf.state("s");
  const nap = s.sleep("nap", { ms: 60_000 });
  const go = s.signal("go", { schema: z.object({ n: z.number() }) });
  s.task("after", { executor: "t/after" }).dependsOn(nap, go);
  return wf;
}

describe("runtime - waits across a coordinator crash", () => {
  it("runtime - a sleep due while no coordinator was up wakes at once on resume, and a signal stored meanwhile is consumed", async () => {
    c = createCluster({ wire: "strict" });
    c.registry.namespace("t").register("after", (input: unknown) => {
      c.calls.push("after");
      return { got: input };
    });
    await c.startWorker();
    const wf = flow();
    const first = c.coordinator();
    const run = await first.run(wf, undefined);
    await waitForEvent(run, "task.waiting", (e) => e.task === "go");
    await first.close();

    // Nobody holds the run: the sleep comes due, and a signal is stored.
    await c.clock.advance(120_000);
    await c.reader.appendSignal({ v: WIRE_VERSION, kind: "signal", type: "signal.received", runId: run.runId, at: c.clock.now(), name: "go", id: "g1", payload: { n: 7 } });
    const resumedAt = c.clock.now();

    const second = c.coordinator();
    const resumed = await second.resume(wf, await c.history(run.runId));
    await c.drive(run.runId, () => resumed.status().status !== "running");
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    const nap = record.tasks.find((t) => t.task === "nap")!;
    expect(nap.output).toEqual({ sleptUntil: 1_000_000 + 60_000 });
    expect(nap.finishedAt).toBe(resumedAt);
    expect(record.tasks.find((t) => t.task === "go")?.output).toEqual({ n: 7 });
    expect(record.output).toEqual({ got: { sleptUntil: 1_060_000, n: 7 } });
    expect(c.calls).toEqual(["after"]);
  });
});
