import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { aborted } from "../support/runtime-fixtures.js";
import { createCluster, type Cluster } from "./runtime-recovery-support.js";

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

const count = (events: readonly RunEvent[], type: RunEvent["type"]) => events.filter((e) => e.type === type).length;

describe("runtime - crash recovery of failing runs", () => {
  it("runtime - a fail-fast run cut at any event of its history resumes to the same failure, each decision recorded once", async () => {
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
      for (const e of prefix) c.hub.injectRaw("event", e);
      const record = await (await c.coordinator().resume(failing(), await c.history("r1"))).result();
      const history = await c.history("r1");
      const where = `cut after event ${cut} (${prefix[cut - 1]!.type})`;
      expect(record.status, where).toBe("failed");
      expect(record.error?.message, where).toContain('task "s/bad" failed after 1 attempt');
      expect(Object.fromEntries(record.tasks.map((t) => [t.task, t.status])), where).toEqual({ slow: "cancelled", bad: "failed" });
      expect(history.slice(0, cut), where).toEqual(prefix);
      for (const type of ["run.started", "state.entered", "task.failed", "task.cancelled", "run.failed"] as const) expect(count(history, type), `${where}: ${type}`).toBe(1);
      if (prefix.some((e) => e.type === "task.failed")) expect(c.calls, where).not.toContain("bad");
    }
  });

  it("runtime - a run cut after a state exit that exceeds maxVisits fails with MAX_VISITS_EXCEEDED", async () => {
    c = createCluster();
    c.registry
      .namespace("t")
      .register("x", () => ({}))
      .register("y", () => ({}));
    await c.startWorker();
    const record = await (await c.coordinator().run(loop(), {}, { runId: "r1" })).result();
    expect(record.error?.code).toBe("MAX_VISITS_EXCEEDED");
    const full = await c.history("r1");
    expect(full.at(-2)).toMatchObject({ type: "state.exited", state: "b", visit: 2, next: "a" });

    const other = createCluster();
    try {
      for (const e of full.slice(0, -1)) other.hub.injectRaw("event", e);
      const resumed = await (await other.coordinator().resume(loop(), await other.history("r1"))).result();
      expect(resumed.status).toBe("failed");
      expect(resumed.error?.code).toBe("MAX_VISITS_EXCEEDED");
      expect(count(await other.history("r1"), "state.entered")).toBe(4);
    } finally {
      await other.close();
    }
  });
});
