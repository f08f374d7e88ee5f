import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { testEngine, type TestEngine } from "../support/runtime-fixtures.js";

let t: TestEngine;
afterEach(async () => {
  await t.close();
});

function pass(t: TestEngine) {
  t.registry.namespace("t").register("pass", (input: unknown) => input);
}

describe("runtime - transitions", () => {
  it("runtime - guarded transitions are tried in order, the first true wins, no `when` is the fallback", async () => {
    t = testEngine();
    pass(t);
    const calls: string[] = [];
    const wf = workflow("guards", { version: "1", input: z.object({ n: z.number() }) });
    const check = wf.state("check", { output: z.object({ n: z.number() }) });
    check.task("pass", { executor: "t/pass" });
    const big = wf.state("big");
    const medium = wf.state("medium");
    const small = wf.state("small");
    for (const s of [big, medium, small]) s.task("pass", { executor: "t/pass" });
    check.transition(big, { when: (o) => (calls.push(`big:${o.n}`), o.n > 10) });
    check.transition(medium, { when: (o) => (calls.push(`medium:${o.n}`), o.n > 5) });
    check.transition(small);

    const finalState = async (n: number) => (await (await t.engine.run(wf, { n })).result()).currentState;
    expect(await finalState(20)).toBe("big");
    expect(calls).toEqual(["big:20"]);
    expect(await finalState(7)).toBe("medium");
    expect(await finalState(1)).toBe("small");
    expect(calls).toEqual(["big:20", "big:7", "medium:7", "big:1", "medium:1"]);
  });

  it("runtime - a guard that throws fails the run with GUARD_FAILED", async () => {
    t = testEngine();
    pass(t);
    const wf = workflow("throws", { version: "1" });
    const a = wf.state("a");
    a.task("pass", { executor: "t/pass" });
    const b = wf.state("b", { final: true });
    a.transition(b, {
      when: () => {
        throw new Error("boom");
      },
    });
    a.transition(b);
    const record = await (await t.engine.run(wf, {})).result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("GUARD_FAILED");
    expect(record.error?.message).toContain("boom");
    expect(record.states.map((s) => [s.name, s.status])).toEqual([["a", "failed"]]);
  });

  it("runtime - no matching transition from a non-final state fails the run with NO_TRANSITION", async () => {
    t = testEngine();
    pass(t);
    const wf = workflow("nomatch", { version: "1" });
    const a = wf.state("a");
    a.task("pass", { executor: "t/pass" });
    a.transition(wf.state("b", { final: true }), { when: () => false });
    const record = await (await t.engine.run(wf, {})).result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("NO_TRANSITION");
  });

  it("runtime - routes by the router task's pathway, and fails on an unknown pathway", async () => {
    t = testEngine();
    t.registry.namespace("t").register("decide", (input: { p: string }) => ({ pathway: input.p }));
    pass(t);
    const wf = workflow("routed", { version: "1", input: z.object({ p: z.string() }) });
    const review = wf.state("review");
    const decide = review.task("decide", { executor: "t/decide" });
    const publish = wf.state("publish");
    const archive = wf.state("archive");
    publish.task("pass", { executor: "t/pass" });
    archive.task("pass", { executor: "t/pass" });
    review.route(decide, { approve: publish, reject: archive });

    const approved = await (await t.engine.run(wf, { p: "approve" })).result();
    expect(approved.states.map((s) => s.name)).toEqual(["review", "publish"]);
    expect(approved.output).toEqual({ pathway: "approve" });
    const rejected = await (await t.engine.run(wf, { p: "reject" })).result();
    expect(rejected.currentState).toBe("archive");
    const unknown = await (await t.engine.run(wf, { p: "maybe" })).result();
    expect(unknown.status).toBe("failed");
    expect(unknown.error?.code).toBe("NO_TRANSITION");
    expect(unknown.error?.message).toContain('"maybe"');
  });

  it("runtime - loops re-enter a state with a visit counter, its output feeding the next visit", async () => {
    t = testEngine();
    t.registry.namespace("t").register("inc", (input: { n: number }) => ({ n: input.n + 1 }));
    const wf = workflow("loop", { version: "1" });
    const loop = wf.state("loop", { output: z.object({ n: z.number() }) });
    loop.task("inc", { executor: "t/inc" });
    loop.transition(loop, { when: (o) => o.n < 3 });
    loop.transition(wf.state("done", { final: true }));
    const record = await (await t.engine.run(wf, { n: 0 })).result();
    expect(record.status).toBe("succeeded");
    expect(record.states.map((s) => [s.name, s.visit, s.input])).toEqual([
      ["loop", 1, { n: 0 }],
      ["loop", 2, { n: 1 }],
      ["loop", 3, { n: 2 }],
      ["done", 1, { n: 3 }],
    ]);
    // A final state without tasks passes its input through.
    expect(record.output).toEqual({ n: 3 });
    expect(record.tasks.map((task) => `${task.id}#${task.visit}`)).toEqual(["loop/inc#1", "loop/inc#2", "loop/inc#3"]);
  });

  it("runtime - entering a state more than its maxVisits fails the run with MAX_VISITS_EXCEEDED", async () => {
    t = testEngine();
    t.registry.namespace("t").register("inc", (input: { n: number }) => ({ n: input.n + 1 }));
    const wf = workflow("runaway", { version: "1" });
    const loop = wf.state("loop", { maxVisits: 3 });
    loop.task("inc", { executor: "t/inc" });
    loop.transition(loop, { when: () => true });
    loop.transition(wf.state("done", { final: true }));
    const record = await (await t.engine.run(wf, { n: 0 })).result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("MAX_VISITS_EXCEEDED");
    expect(record.error?.message).toContain('state "loop"');
    expect(record.states.map((s) => s.visit)).toEqual([1, 2, 3]);
  });
});
