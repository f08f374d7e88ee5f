import { describe, expectTypeOf, test } from "vitest";
import { z } from "zod";
import { workflow, type Task } from "../../src/dsl/workflow.js";
import type { Engine } from "../../src/embedded/engine.js";
import type { SignalSent } from "../../src/runtime/core/signals.js";

const wf = workflow("waits-types", { version: "1" });
const s = wf.state("s");
const other = wf.state("other");

describe("dsl types - signal and sleep nodes", () => {
  test("a signal node is a task of its state whose output is its schema's type", () => {
    const verdict = s.signal("verdict", { schema: z.object({ ok: z.boolean() }) });
    expectTypeOf(verdict).toEqualTypeOf<Task<"s", { ok: boolean }>>();
    expectTypeOf(s.sleep("pause", { ms: 1000 })).toEqualTypeOf<Task<"s", { sleptUntil: number }>>();
    s.task("draft", { executor: "ns/draft" }).then(verdict);
  });

  test("until gets the input type it declares and returns a Date or a number", () => {
    s.sleep("until", { until: (input: { at: string }) => new Date(input.at) });
    s.sleep("epoch", { until: () => 5 });
    // @ts-expect-error until must return a Date or epoch ms
    s.sleep("bad", { until: () => "tomorrow" });
  });

  test("wait nodes are wired within their state only; signal() is typed", () => {
    const pause = s.sleep("p2", { ms: 5 });
    // @ts-expect-error a node of state "s" cannot follow a task of state "other"
    other.task("o", { executor: "ns/o" }).then(pause);
    expectTypeOf<Engine["signal"]>().returns.toEqualTypeOf<Promise<SignalSent>>();
    expectTypeOf<Engine["signal"]>().parameter(3).toEqualTypeOf<{ id?: string } | undefined>();
  });
});
