import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import { createFakeClock } from "../support/fake-clock.js";
import { aborted, gate, settle, testEngine, waitForEvent, type TestEngine } from "../support/runtime-fixtures.js";

let t: TestEngine;
afterEach(async () => {
  await t.close();
});

const statusOf = (record: { tasks: { task: string; status: string }[] }) => Object.fromEntries(record.tasks.map((task) => [task.task, task.status]));

describe("runtime - failures and cancel", () => {
  it("runtime - fail-fast: a failed task cancels in-flight work (its signal aborts) and fails the run", async () => {
    t = testEngine();
    const slowStarted = gate();
    let slowSignal: AbortSignal | undefined;
    t.registry
      .namespace("t")
      .register("slow", async (_input: unknown, ctx: TaskContext) => {
        slowSignal = ctx.signal;
        slowStarted.open();
        await aborted(ctx.signal);
        throw new Error("aborted");
      })
      .register("bad", async () => {
        await slowStarted.opened;
        throw new NonRetryableError("broken input");
      })
      .register("after", () => ({}));
    const wf = workflow("ff", { version: "1" });
    const s = wf.state("s");
    const slow = s.task("slow", { executor: "t/slow" });
    const bad = s.task("bad", { executor: "t/bad" });
    s.task("after", { executor: "t/after" }).dependsOn(slow, bad);
    s.transition(wf.state("next", { final: true }));

    const run = await t.engine.run(wf, {});
    const record = await run.result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("TASK_FAILED");
    expect(record.error?.message).toContain('task "s/bad" failed after 1 attempt');
    expect(record.error?.message).toContain("broken input");
    expect(statusOf(record)).toEqual({ slow: "cancelled", bad: "failed" });
    expect(record.states.map((st) => [st.name, st.status])).toEqual([["s", "failed"]]);
    await aborted(slowSignal!);
    expect(slowSignal!.aborted).toBe(true);
  });

  it("runtime - continue: dependents of a failed task are skipped, independent tasks finish, then the run fails", async () => {
    t = testEngine();
    const ran: string[] = [];
    t.registry
      .namespace("t")
      .register("ok", (_input: unknown, ctx: TaskContext) => {
        ran.push(ctx.task);
        return { [ctx.task]: true };
      })
      .register("bad", () => {
        throw new NonRetryableError("nope");
      });
    const wf = workflow("cont", { version: "1" });
    const s = wf.state("s");
    const bad = s.task("bad", { executor: "t/bad" });
    const child = s.task("child", { executor: "t/ok" });
    const grandchild = s.task("grandchild", { executor: "t/ok" });
    const free = s.task("free", { executor: "t/ok" });
    const freeChild = s.task("freeChild", { executor: "t/ok" });
    const join = s.task("join", { executor: "t/ok" });
    bad.then(child).then(grandchild);
    free.then(freeChild);
    join.dependsOn(freeChild, grandchild);
    s.transition(wf.state("next", { final: true }));

    for (const schedule of ["phases", "eager"] as const) {
      ran.length = 0;
      const record = await (await t.engine.run(wf, {}, { onFailure: "continue", schedule })).result();
      expect(record.status).toBe("failed");
      expect(record.error?.code).toBe("TASK_FAILED");
      expect(statusOf(record)).toEqual({ bad: "failed", child: "skipped", grandchild: "skipped", join: "skipped", free: "succeeded", freeChild: "succeeded" });
      expect(ran.sort()).toEqual(["free", "freeChild"]);
      expect(record.tasks.find((task) => task.task === "join")?.reason).toBe('upstream task "s/bad" failed');
      expect(record.states.map((st) => [st.name, st.status])).toEqual([["s", "failed"]]);
    }
  });

  it("runtime - cancel mid-run: in-flight attempts are aborted, the run ends cancelled, nothing more runs", async () => {
    t = testEngine();
    let signal: AbortSignal | undefined;
    let laterRan = false;
    const started = gate();
    t.registry
      .namespace("t")
      .register("long", async (_input: unknown, ctx: TaskContext) => {
        signal = ctx.signal;
        started.open();
        await aborted(ctx.signal);
        throw new Error("stopped");
      })
      .register("later", () => {
        laterRan = true;
        return {};
      });
    const wf = workflow("cancel", { version: "1" });
    const s = wf.state("s");
    s.task("long", { executor: "t/long" }).then(s.task("later", { executor: "t/later" }));
    const run = await t.engine.run(wf, {});
    await started.opened;
    await run.cancel("user asked");
    const record = await run.result();
    expect(record.status).toBe("cancelled");
    expect(record.reason).toBe("user asked");
    expect(statusOf(record)).toEqual({ long: "cancelled" });
    expect(record.states[0]?.status).toBe("cancelled");
    await aborted(signal!);
    await settle();
    expect(laterRan).toBe(false);
    expect(t.engine.get(run.runId)?.status).toBe("cancelled");
  });

  it("runtime - cancel while a retry is pending clears the retry timer", async () => {
    const clock = createFakeClock(5_000);
    t = testEngine({ clock, random: () => 0 });
    let calls = 0;
    t.registry.namespace("t").register("flaky", () => {
      calls += 1;
      throw new Error("flaky");
    });
    const wf = workflow("retrycancel", { version: "1" });
    wf.state("s").task("flaky", { executor: "t/flaky", retries: 3, backoff: { initialMs: 1000, maxMs: 1000 } });
    const run = await t.engine.run(wf, {});
    await waitForEvent(run, "task.retrying");
    await t.engine.cancel(run.runId);
    await clock.runAll();
    const record = await run.result();
    expect(record.status).toBe("cancelled");
    expect(calls).toBe(1);
    expect(record.tasks[0]).toMatchObject({ status: "cancelled", attempts: 1 });
  });
});
