// Finished runs' records are kept for `get` within a byte budget, oldest dropped first;
// a record alone over the budget is not kept; 0 keeps none. The size estimate walks
// values without recursion.
import { describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { createRegistry } from "../../src/registry/registry.js";
import { createEngine } from "../../src/embedded/engine.js";
import { estimateBytes } from "../../src/runtime/core/record-size.js";

const flow = workflow("keep", { version: "1" });
flow.state("only").task("t", { executor: "k/echo" });
const registry = createRegistry();
registry.namespace("k").register("echo", (input: unknown) => input);

async function runAll(keepFinishedBytes: number, inputs: unknown[]): Promise<{ ids: string[]; engine: ReturnType<typeof createEngine> }> {
  const engine = createEngine({ registry, keepFinishedBytes });
  const ids: string[] = [];
  for (const input of inputs) {
    const run = await engine.run(flow, input);
    ids.push((await run.result()).runId);
  }
  return { ids, engine };
}

describe("runtime - finished records kept by bytes", () => {
  it("runtime - keeps the newest records that fit the budget and drops the oldest", async () => {
    const big = { blob: "x".repeat(10_000) };
    const { ids, engine } = await runAll(35_000, [big, big, big, big]);
    try {
      expect(engine.get(ids[0]!)).toBeUndefined();
      expect(engine.get(ids[3]!)?.status).toBe("succeeded");
      expect(engine.kept().bytes).toBeLessThanOrEqual(35_000);
      expect(engine.kept().runs).toBeGreaterThan(0);
      expect(engine.kept().runs).toBeLessThan(4);
    } finally {
      await engine.close();
    }
  });

  it("runtime - a record over the whole budget is not kept, and 0 keeps none", async () => {
    const small = await runAll(2_000, [{ blob: "y".repeat(5_000) }]);
    expect(small.engine.get(small.ids[0]!)).toBeUndefined();
    await small.engine.close();
    const none = await runAll(0, [{ a: 1 }]);
    expect(none.engine.kept()).toEqual({ runs: 0, bytes: 0 });
    await none.engine.close();
  });

  it("runtime - estimateBytes grows with the data and survives a 100,000-deep value", () => {
    expect(estimateBytes({ s: "x".repeat(1000) })).toBeGreaterThan(estimateBytes({ s: "x" }) + 900);
    let deep: unknown = {};
    for (let i = 0; i < 100_000; i++) deep = { next: deep };
    expect(estimateBytes(deep)).toBeGreaterThan(100_000);
  });
});
