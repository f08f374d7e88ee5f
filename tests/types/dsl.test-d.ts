import { describe, expectTypeOf, test } from "vitest";
import { z } from "zod";
import { workflow, type Task } from "../../src/dsl/workflow.js";
import { createRegistry } from "../../src/registry/registry.js";

const wf = workflow("types", { version: "1", input: z.object({ day: z.string() }) });
const a = wf.state("a", { output: z.object({ loaded: z.number(), label: z.string() }) });
const b = wf.state("b");
const a1 = a.task("a1", { executor: "ns/a1" });
const a2 = a.task("a2", { executor: "ns/a2" });
const a3 = a.task("a3", { executor: "ns/a3" });
const b1 = b.task("b1", { executor: "ns/b1" });

describe("dsl types", () => {
  test("tasks are branded by their state's name", () => {
    expectTypeOf(a1).toEqualTypeOf<Task<"a">>();
    expectTypeOf(b1).toEqualTypeOf<Task<"b">>();
  });

  test("then returns its argument, so chains read left to right", () => {
    expectTypeOf(a1.then(a2)).toEqualTypeOf(a2);
    const both = a1.then([a2, a3]);
    expectTypeOf(both).toEqualTypeOf<Task<"a">[]>();
    expectTypeOf(a2.dependsOn(a1)).toEqualTypeOf(a2);
  });

  test("wiring tasks of different states does not type-check", () => {
    // @ts-expect-error a task of state "b" cannot follow a task of state "a"
    a1.then(b1);
    // @ts-expect-error not inside an array either
    a1.then([a2, b1]);
    // @ts-expect-error nor from the child's side
    b1.dependsOn(a1);
  });

  test("executor keys need a namespace", () => {
    // @ts-expect-error "extract" has no "/"
    a.task("bad", { executor: "extract" });
    a.task("good", { executor: "etl/extract" });
  });

  test("retries, timeoutMs and backoff are numbers", () => {
    // @ts-expect-error retries is a number
    a.task("r", { executor: "ns/r", retries: "3" });
    // @ts-expect-error timeoutMs is a number
    a.task("t", { executor: "ns/t", timeoutMs: "10s" });
    // @ts-expect-error backoff needs maxMs
    a.task("b", { executor: "ns/b", backoff: { initialMs: 10 } });
  });

  test("when receives the state's output type", () => {
    a.transition(b, {
      when: (out) => {
        expectTypeOf(out).toEqualTypeOf<{ loaded: number; label: string }>();
        return out.loaded > 0;
      },
    });
    // @ts-expect-error "missing" is not in the state's output schema
    a.transition(b, { when: (out) => out.missing > 0 });
    // @ts-expect-error a guard returns a boolean
    a.transition(b, { when: (out) => out.label });
  });

  test("route targets are states", () => {
    a.route(a1, { approve: b, reject: a });
    a.route("a1", { approve: b });
    // @ts-expect-error a task is not a state
    a.route(a1, { approve: b1 });
    // @ts-expect-error a state name is not a state handle
    a.route(a1, { approve: "b" });
    // @ts-expect-error the router is a task of this state
    a.route(b1, { approve: b });
  });

  test("register checks the executor against its schemas", () => {
    const ns = createRegistry().namespace("etl");
    ns.register("ok", (input: { day: string }) => ({ rows: input.day.length }), {
      input: z.object({ day: z.string() }),
      output: z.object({ rows: z.number() }),
    });
    ns.register("typed-input", (input) => {
      expectTypeOf(input).toEqualTypeOf<{ day: string }>();
      return { rows: 1 };
    }, { input: z.object({ day: z.string() }) });
    // @ts-expect-error the fn takes a number where the schema says string
    ns.register("bad-input", (input: { day: number }) => input.day, { input: z.object({ day: z.string() }) });
    // @ts-expect-error the fn returns a string where the output schema says number
    ns.register("bad-output", () => ({ rows: "many" }), { output: z.object({ rows: z.number() }) });
  });
});
