// A workflow without an input schema can be run without input: `undefined` crosses the
// wire (run.started, state.entered, task messages) without failing any schema.
import { describe, expect, it } from "vitest";
import { createEngine, createRegistry, workflow } from "../../src/index.js";

describe("runtime - runs without input", () => {
  it("runtime - a workflow with no input schema runs with no input and passes undefined to its root task", async () => {
    const registry = createRegistry();
    const seen: unknown[] = [];
    registry.namespace("t").register("root", (input: unknown) => {
      seen.push(input);
      return { done: true };
    });
    const wf = workflow("no-input", { version: "1" });
    wf.state("only").task("root", { executor: "t/root" });
    const engine = createEngine({ registry });
    try {
      const record = await (await engine.run(wf, undefined)).result();
      expect(record.status).toBe("succeeded");
      expect(record.output).toEqual({ done: true });
      expect(seen).toEqual([undefined]);
    } finally {
      await engine.close();
    }
  });
});
