// Embedded runs hand executors their own copies, as a fleet does (each worker parses its
// task message): an executor that mutates its input or ctx.parents in place changes
// neither its parent's recorded output nor what a sibling, a later task, a map instance
// or its own next attempt reads. Also with payload limits off (no JSON text to reuse).
import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { createEngine, type Engine, type EngineOptions } from "../../src/embedded/engine.js";
import { createRegistry } from "../../src/registry/registry.js";

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

type Shared = { list: number[]; meta: { n: number }; cells: { v: number }[] };

function setup(options: Omit<EngineOptions, "registry"> = {}) {
  const seen: Record<string, unknown> = {};
  let failedOnce = false;
  const registry = createRegistry();
  registry
    .namespace("iso")
    .register("make", (): Shared => ({ list: [1, 2], meta: { n: 1 }, cells: [{ v: 1 }, { v: 2 }] }))
    .register("vandal", (input: Shared, ctx) => {
      input.list.push(99);
      input.meta.n = 42;
      (ctx.parents.make as Shared).cells[0]!.v = -1;
      return { vandalised: true };
    })
    .register("flaky-vandal", (input: Shared) => {
      seen[`flaky-${failedOnce ? 2 : 1}`] = structuredClone(input);
      input.list.length = 0;
      if (!failedOnce) {
        failedOnce = true;
        throw new Error("first attempt fails after mutating its input");
      }
      return {};
    })
    .register("reader", (input: Shared & { vandalised: boolean }, ctx) => {
      seen.reader = { input: structuredClone(input), parent: structuredClone(ctx.parents.make) };
      return {};
    })
    .register("cell", (input: { v: number }, ctx) => {
      seen[`cell-${ctx.item!.index}`] = structuredClone(input);
      input.v = 1000;
      return input;
    });
  engine = createEngine({ registry, ...options });
  return { engine, seen };
}

function flow() {
  const wf = workflow("isolation", { version: "1" });
  const s = wf.state("s");
  const make = s.task("make", { executor: "iso/make" });
  const vandal = s.task("vandal", { executor: "iso/vandal" });
  const flaky = s.task("flaky", { executor: "iso/flaky-vandal", retries: 1, backoff: { initialMs: 0, maxMs: 0 } });
  const reader = s.task("reader", { executor: "iso/reader" });
  const cells = s.map("cells", { executor: "iso/cell", items: (input: Shared) => input.cells });
  make.then([vandal, flaky, cells]);
  reader.dependsOn(make, vandal, cells);
  return wf;
}

describe.each([
  ["with payload limits (the default)", {}],
  ["with payload limits off", { maxPayload: false as const }],
])("embedded isolation %s", (_label, options) => {
  it("embedded isolation - an executor mutating its input changes neither the record nor what others read", async () => {
    const { engine: e, seen } = setup(options);
    const record = await (await e.run(flow(), {})).result();
    expect(record.status).toBe("succeeded");
    const pristine = { list: [1, 2], meta: { n: 1 }, cells: [{ v: 1 }, { v: 2 }] };
    // The parent's recorded output is what it returned.
    expect(record.tasks.find((t) => t.task === "make")!.output).toEqual(pristine);
    // A later task reads the parent's output as it was, not as the vandal left it.
    expect(seen.reader).toEqual({ input: { ...pristine, vandalised: true, cells: [1000, 1000].map((v) => ({ v })) }, parent: pristine });
    // Map instances get their own item, not the parent's cell objects.
    expect(seen["cell-0"]).toEqual({ v: 1 });
    expect(seen["cell-1"]).toEqual({ v: 2 });
    // The retry of an attempt that emptied its input gets the input whole again.
    expect(seen["flaky-1"]).toEqual(pristine);
    expect(seen["flaky-2"]).toEqual(pristine);
  });
});
