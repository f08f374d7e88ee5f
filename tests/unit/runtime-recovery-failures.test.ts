import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import type { RunHandle } from "../../src/runtime/shell/run-handle.js";
import { aborted } from "../support/runtime-fixtures.js";
import { count, createCluster, type Cluster } from "./runtime-recovery-support.js";

let c: Cluster;
afterEach(async () => {
  await c.close();
});

/** s: slow (never ends on its own) and bad (always fails) side by side, then after. */
function failing() {
  const wf = workflow("recfail", { version: "1" });
  const s = wf.state("s");
  const slow = s.task("slow", { executor: "t/slow" });
  const bad = s.task("bad", { executor: "t/bad" });
  s.task("after", { executor: "t/after" }).dependsOn(slow, bad);
  return wf;
}

function register(cluster: Cluster): void {
  cluster.registry
    .namespace("t")
    .register("slow", async (_input: unknown, ctx: TaskContext) => {
      cluster.calls.push(ctx.task);
      await aborted(ctx.signal);
      throw new Error("aborted");
    })
    .register("bad", (_input: unknown, ctx: TaskContext) => {
      cluster.calls.push(ctx.task);
      throw new NonRetryableError("broken");
    })
    .register("after", () => ({}));
}

/** a -> b -> a ... with a entered at most twice: the second exit of b fails the run. */
function loop() {
  const wf = workflow("recloop", { version: "1" });
  const a = wf.state("a", { maxVisits: 2 });
  a.task("x", { executor: "t/x" });
  const b = wf.state("b");
  b.task("y", { executor: "t/y" });
  const done = wf.state("done", { final: true });
  a.transition(b);
  b.transition(a, { when: () => true });
  b.transition(done);
  return wf;
}

/** The run's record once it ended, moving the fake clock as needed (a lost attempt waits for the watchdog). */
async function finish(cluster: Cluster, run: RunHandle) {
  let done = false;
  void run.result().then(() => (done = true));
  await cluster.drive(run.runId, () => done);
  return run.result();
}

describe("runtime - crash recovery of failing runs", () => {
  it("runtime - a fail-fast run cut after any stored message, resumed on a fresh hub, ends in the same failure, each decision recorded once", async () => {
    const first = createCluster();
    register(first);
    await first.startWorker();
    const failed = await (await first.coordinator().run(failing(), {}, { runId: "r1" })).result();
    expect(failed.status).toBe("failed");
    const full = await first.history("r1");
    await first.close();

    c = createCluster();
    for (let cut = 1; cut <= full.length; cut++) {
      await c.close();
      c = createCluster();
      register(c);
      await c.startWorker();
      const prefix = full.slice(0, cut);
      await c.seed(prefix);
      const record = await finish(c, await c.coordinator().resume(failing(), await c.history("r1")));
      const history = await c.events("r1");
      const where = `cut after stored message ${cut} of ${full.length} (${prefix[cut - 1]!.message.kind})`;
      expect(record.status, where).toBe("failed");
      // An attempt lost with the old hub's queue is re-dispatched by the watchdog, so bad may have had a second attempt.
      expect(record.error?.message, where).toMatch(/task "s\/bad" failed after [12] attempt/);
      expect(Object.fromEntries(record.tasks.map((t) => [t.task, t.status])), where).toEqual({ slow: "cancelled", bad: "failed" });
      expect((await c.history("r1")).slice(0, cut), where).toEqual(prefix);
      for (const type of ["run.started", "state.entered", "task.failed", "task.cancelled", "run.failed"] as const) expect(count(history, type), `${where}: ${type}`).toBe(1);
      if (historyEvents(prefix).some((e) => e.type === "task.failed")) expect(c.calls, where).not.toContain("bad");
    }
  });

  it("runtime - a run cut before the decision that exceeds maxVisits fails with MAX_VISITS_EXCEEDED on resume", async () => {
    c = createCluster();
    c.registry
      .namespace("t")
      .register("x", () => ({}))
      .register("y", () => ({}));
    await c.startWorker();
    const record = await (await c.coordinator().run(loop(), {}, { runId: "r1" })).result();
    expect(record.error?.code).toBe("MAX_VISITS_EXCEEDED");
    const full = await c.history("r1");
    // The exit of b and the failure of the run it leads to are one decision, stored after y's report.
    const last = full.at(-1)!.message;
    expect(last.kind === "decision" && last.events.map((e) => e.type)).toEqual(["state.exited", "run.failed"]);
    expect(last.kind === "decision" && last.events[0]).toMatchObject({ state: "b", visit: 2, next: "a" });
    expect(full.at(-2)!.message).toMatchObject({ kind: "report", task: "y", visit: 2 });

    const other = createCluster();
    try {
      await other.seed(full.slice(0, -1));
      const resumed = await (await other.coordinator().resume(loop(), await other.history("r1"))).result();
      expect(resumed.status).toBe("failed");
      expect(resumed.error?.code).toBe("MAX_VISITS_EXCEEDED");
      const events = await other.events("r1");
      expect(count(events, "state.entered")).toBe(4);
      expect(count(events, "state.exited")).toBe(4);
    } finally {
      await other.close();
    }
  });
});
