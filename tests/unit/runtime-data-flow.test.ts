import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { layoutOf, mergeOutputs, stateOutputOf, taskInputOf } from "../../src/runtime/core/dataflow.js";
import { decideNext, definitionsOf } from "../../src/runtime/core/definition.js";

describe("runtime - data flow and next state", () => {
  it("runtime - merges only plain-object outputs, later names win", () => {
    const outputs = new Map<string, unknown>([
      ["a", { x: 1, k: "a" }],
      ["b", [1, 2]],
      ["c", null],
      ["d", { k: "d" }],
    ]);
    expect(mergeOutputs(["a", "b", "c", "d"], outputs)).toEqual({ x: 1, k: "d" });
    expect(mergeOutputs(["b"], outputs)).toEqual([1, 2]);
    expect(mergeOutputs(["b", "c"], outputs)).toEqual({});
  });

  it("runtime - orders parents and sinks by phase, then declaration", () => {
    const wf = workflow("order", { version: "1" });
    const s = wf.state("s");
    const late = s.task("late", { executor: "t/x" });
    const early = s.task("early", { executor: "t/x" });
    const mid = s.task("mid", { executor: "t/x" });
    early.then(late);
    s.task("sink", { executor: "t/x" }).dependsOn(late, mid);
    const state = compile(wf).states[0]!;
    const layout = layoutOf(state);
    expect(layout.byName.get("sink")!.parents).toEqual(["mid", "late"]);
    const outputs = new Map<string, unknown>([
      ["mid", { v: "mid" }],
      ["late", { v: "late" }],
      ["sink", { done: true }],
    ]);
    expect(taskInputOf(layout.byName.get("sink")!, { in: 1 }, outputs)).toEqual({ input: { v: "late" }, parents: { mid: { v: "mid" }, late: { v: "late" } } });
    expect(taskInputOf(layout.byName.get("early")!, { in: 1 }, outputs)).toEqual({ input: { in: 1 }, parents: {} });
    expect(stateOutputOf(layout, { in: 1 }, outputs)).toEqual({ done: true });
  });

  it("runtime - a router output without a string pathway names the router and the known pathways", () => {
    const wf = workflow("route", { version: "1" });
    const s = wf.state("s");
    const decide = s.task("decide", { executor: "t/x" });
    const yes = wf.state("yes");
    yes.task("y", { executor: "t/x" });
    s.route(decide, { yes });
    const plan = compile(wf);
    const state = plan.states[0]!;
    expect(() => decideNext(state, definitionsOf(wf), {}, new Map([["decide", { pathway: 3 }]]))).toThrow(/router task "decide" returned no string "pathway" \(expected one of "yes"\)/);
    expect(decideNext(state, definitionsOf(wf), {}, new Map([["decide", { pathway: "yes" }]]))).toBe("yes");
    expect(() => decideNext(state, definitionsOf(wf), {}, new Map([["decide", { pathway: "toString" }]]))).toThrow(/NO_TRANSITION|no target/);
    expect(decideNext(plan.states[1]!, definitionsOf(wf), {}, new Map())).toBeNull();
  });
});
