import { describe, expectTypeOf, test } from "vitest";
import { z } from "zod";
import type { InputOf } from "../../src/dsl/options.js";
import { workflow, type Task, type Workflow, type WorkflowInput } from "../../src/dsl/workflow.js";

const enrich = workflow("enrich", { version: "1", input: z.object({ id: z.string() }) });
enrich.state("s").task("t", { executor: "ns/t" });
const parent = workflow("parent", { version: "1" });
const s = parent.state("s");

describe("child node types", () => {
  test("a child node's input function must return what the child workflow's input schema accepts", () => {
    s.child("ok", { workflow: enrich, input: (i: { key: string }) => ({ id: i.key }) });
    // @ts-expect-error id must be a string
    s.child("bad", { workflow: enrich, input: (i: { key: number }) => ({ id: i.key }) });
    // @ts-expect-error id is missing
    s.child("missing", { workflow: enrich, input: () => ({ other: "x" }) });
  });

  test("a map over a workflow: its items must be the child workflow's inputs", () => {
    const m = s.map("each", { workflow: enrich, items: (i: { ids: string[] }) => i.ids.map((id) => ({ id })) });
    expectTypeOf(m).toEqualTypeOf<Task<"s", unknown[]>>();
    // @ts-expect-error items of the wrong shape
    s.map("bad", { workflow: enrich, items: (i: { ids: number[] }) => i.ids.map((id) => ({ id })) });
  });

  test("a workflow given by name is not checked (it is looked up at run time)", () => {
    s.child("named", { workflow: "enrich", input: () => 42 });
    s.map("named-map", { workflow: "enrich", items: () => [1, 2] });
  });

  test("a task map still needs an executor", () => {
    s.map("tasks", { executor: "ns/run", items: () => [1, 2] });
    // @ts-expect-error neither executor nor workflow
    s.map("neither", { items: () => [1, 2] });
  });

  test("the options (dsl/options.ts) read a workflow handle's input as the workflow itself does, without importing it", () => {
    expectTypeOf<InputOf<typeof enrich>>().toEqualTypeOf<WorkflowInput<typeof enrich>>();
    expectTypeOf<InputOf<typeof enrich>>().toEqualTypeOf<{ id: string }>();
    expectTypeOf<InputOf<Workflow<{ n: number }>>>().toEqualTypeOf<{ n: number }>();
    expectTypeOf<InputOf<typeof parent>>().toEqualTypeOf<unknown>();
    expectTypeOf<InputOf<"enrich">>().toEqualTypeOf<unknown>();
  });
});
