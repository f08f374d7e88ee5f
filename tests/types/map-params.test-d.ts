import { describe, expectTypeOf, test } from "vitest";
import { workflow, type Task, type TaskParams } from "../../src/dsl/workflow.js";
import { createRegistry } from "../../src/registry/registry.js";
import type { MapItemInfo, TaskContext } from "../../src/registry/types.js";

const wf = workflow("types-map", { version: "1" });
const grid = wf.state("grid");
const plan = grid.task("plan", { executor: "study/plan", params: { replicates: 5, sizes: [1000, 4000] } });
const run = grid.map("run", { executor: "study/run", items: (inp: { cells: { n: number }[] }) => inp.cells, params: { scale: 2 } });

describe("map and params types", () => {
  test("params are typed from the option", () => {
    expectTypeOf<TaskParams<typeof plan>>().toEqualTypeOf<{ replicates: number; sizes: number[] }>();
    expectTypeOf<TaskParams<typeof run>>().toEqualTypeOf<{ scale: number }>();
  });

  test("ctx.params, ctx.seed and ctx.item have their types in an executor", () => {
    createRegistry()
      .namespace("study")
      .register("plan", (_input: unknown, ctx: TaskContext<TaskParams<typeof plan>>) => {
        expectTypeOf(ctx.params.replicates).toEqualTypeOf<number>();
        expectTypeOf(ctx.seed).toEqualTypeOf<number>();
        expectTypeOf(ctx.item).toEqualTypeOf<MapItemInfo | undefined>();
        // @ts-expect-error "missing" is not a param of plan
        return ctx.params.missing;
      });
  });

  test("a map is a task of its state, wired like one; its output is an array", () => {
    expectTypeOf(plan.then(run)).toEqualTypeOf(run);
    expectTypeOf(run).toMatchTypeOf<Task<"grid", unknown[]>>();
    const other = wf.state("other").task("x", { executor: "ns/x" });
    // @ts-expect-error a map of "grid" cannot follow a task of "other"
    other.then(run);
  });

  test("items must be a function returning an array, maxConcurrency a number", () => {
    // @ts-expect-error items is a function
    grid.map("bad1", { executor: "ns/x", items: [1, 2] });
    // @ts-expect-error items returns an array
    grid.map("bad2", { executor: "ns/x", items: () => 3 });
    // @ts-expect-error maxConcurrency is a number
    grid.map("bad3", { executor: "ns/x", items: () => [1], maxConcurrency: "4" });
  });
});
