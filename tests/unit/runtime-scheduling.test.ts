import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import type { TaskContext } from "../../src/registry/types.js";
import { gate, settle, testEngine, waitForEvent, type TestEngine } from "../support/runtime-fixtures.js";

let t: TestEngine;
afterEach(async () => {
  await t.close();
});

/** a (held by a gate) -> b; x (fast) -> y: the phases are [a, x], [b, y]. */
function twoChains() {
  const wf = workflow("chains", { version: "1" });
  const s = wf.state("work");
  const a = s.task("a", { executor: "t/held" });
  const x = s.task("x", { executor: "t/fast" });
  a.then(s.task("b", { executor: "t/fast" }));
  x.then(s.task("y", { executor: "t/fast" }));
  return wf;
}

function recordingExecutors(t: TestEngine, held: Promise<void>) {
  const log: string[] = [];
  t.registry
    .namespace("t")
    .register("held", async (_input: unknown, ctx: TaskContext) => {
      log.push(`start:${ctx.task}`);
      await held;
      log.push(`end:${ctx.task}`);
      return { [ctx.task]: true };
    })
    .register("fast", (_input: unknown, ctx: TaskContext) => {
      log.push(`start:${ctx.task}`);
      log.push(`end:${ctx.task}`);
      return { [ctx.task]: true };
    });
  return log;
}

describe("runtime - scheduling", () => {
  it("runtime - phases: no task starts before every task of the previous phase finished", async () => {
    t = testEngine();
    const hold = gate();
    const log = recordingExecutors(t, hold.opened);
    const run = await t.engine.run(twoChains(), {});
    // A success without an output schema is its report: attempt.succeeded is the verdict.
    await waitForEvent(run, "attempt.succeeded", (e) => e.task === "x");
    await settle();
    // x is done, but a (same phase) still runs: y must not have been dispatched.
    expect(run.status().tasks.map((task) => task.task).sort()).toEqual(["a", "x"]);
    hold.open();
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    const endOfPhase1 = Math.max(log.indexOf("end:a"), log.indexOf("end:x"));
    expect(log.indexOf("start:b")).toBeGreaterThan(endOfPhase1);
    expect(log.indexOf("start:y")).toBeGreaterThan(endOfPhase1);
  });

  it("runtime - eager: a task starts while an unrelated slow task of the previous phase still runs", async () => {
    t = testEngine();
    const hold = gate();
    const log = recordingExecutors(t, hold.opened);
    const run = await t.engine.run(twoChains(), {}, { schedule: "eager" });
    await waitForEvent(run, "attempt.succeeded", (e) => e.task === "y");
    expect(log).toContain("end:y");
    expect(log).not.toContain("end:a");
    hold.open();
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(log.indexOf("start:b")).toBeGreaterThan(log.indexOf("end:a"));
    expect(record.output).toEqual({ b: true, y: true });
  });

  it("runtime - merges parents' object outputs in phase order and passes ctx.parents", async () => {
    t = testEngine();
    const seen: Record<string, { input: unknown; parents: unknown }> = {};
    const outputs: Record<string, unknown> = { p: { k: "p", p: 1 }, r: { k: "r", r: 1 }, q: { k: "q" }, arr: [1, 2] };
    t.registry.namespace("t").register("rec", (input: unknown, ctx: TaskContext) => {
      seen[ctx.task] = { input, parents: ctx.parents };
      return outputs[ctx.task] ?? { [ctx.task]: true };
    });
    const wf = workflow("merge", { version: "1" });
    const s = wf.state("s");
    const p = s.task("p", { executor: "t/rec" });
    const q = s.task("q", { executor: "t/rec" }); // declared before r, but one phase later
    const r = s.task("r", { executor: "t/rec" });
    const arr = s.task("arr", { executor: "t/rec" });
    r.then(q);
    s.task("m", { executor: "t/rec" }).dependsOn(q, p, arr);
    s.task("one", { executor: "t/rec" }).dependsOn(arr);
    const record = await (await t.engine.run(wf, { start: 1 })).result();
    expect(record.status).toBe("succeeded");
    expect(seen.p!.input).toEqual({ start: 1 });
    expect(seen.p!.parents).toEqual({});
    // p (phase 1) then q (phase 2): q's "k" wins; the array output is left out of the merge.
    expect(seen.m!.input).toEqual({ k: "q", p: 1 });
    expect(seen.m!.parents).toEqual({ p: { k: "p", p: 1 }, q: { k: "q" }, arr: [1, 2] });
    // One parent: its output as is, even when it is not an object.
    expect(seen.one!.input).toEqual([1, 2]);
  });

  it("runtime - a state's output (merge of its sinks) is the next state's input and the final one is the run's output", async () => {
    t = testEngine();
    const seen: Record<string, unknown> = {};
    t.registry
      .namespace("t")
      .register("left", () => ({ left: 1, both: "left" }))
      .register("right", () => ({ right: 2, both: "right" }))
      .register("sum", (input: { left: number; right: number }, ctx: TaskContext) => {
        seen[ctx.task] = input;
        return { total: input.left + input.right };
      });
    const wf = workflow("flow", { version: "1" });
    const first = wf.state("first");
    first.task("left", { executor: "t/left" });
    first.task("right", { executor: "t/right" });
    const second = wf.state("second");
    second.task("sum", { executor: "t/sum" });
    first.transition(second);
    const record = await (await t.engine.run(wf, {})).result();
    expect(seen.sum).toEqual({ left: 1, right: 2, both: "right" });
    expect(record.states.map((st) => [st.name, st.status, st.output])).toEqual([
      ["first", "succeeded", { left: 1, right: 2, both: "right" }],
      ["second", "succeeded", { total: 3 }],
    ]);
    expect(record.output).toEqual({ total: 3 });
  });
});
