/**
 * DESIGN §8 "Priority", embedded: where tasks wait for worker slots, runs of higher
 * priority (1 first .. 5 last) start first, FIFO within a priority; a run's priority is
 * its own, else its workflow's, else 3, and it is recorded with the run.
 */
import { afterEach, describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { createRegistry } from "../../src/registry/registry.js";
import { gate } from "../support/runtime-fixtures.js";

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

function setup(options: { workflowPriority?: number } = {}) {
  const registry = createRegistry();
  const started: string[] = [];
  const blocking = gate();
  const release = gate();
  registry.namespace("p").register("block", async () => {
    blocking.open();
    await release.opened;
    return {};
  });
  registry.namespace("p").register("work", (input: { name: string }) => {
    started.push(input.name);
    return { done: input.name };
  });
  const blocker = workflow("blocker", { version: "1" });
  blocker.state("s").task("block", { executor: "p/block" });
  const job = workflow("job", { version: "1", ...(options.workflowPriority !== undefined ? { priority: options.workflowPriority } : {}) });
  job.state("s").task("work", { executor: "p/work" });
  // One slot: everything after the blocker waits for it.
  engine = createEngine({ registry, concurrency: 1 });
  return { engine, started, blocking, release, blocker, job };
}

describe("runtime - priority (embedded)", () => {
  it("runtime - priority-1 runs start before priority-5 runs queued earlier, FIFO within a priority", async () => {
    const { engine, started, blocking, release, blocker, job } = setup();
    const held = await engine.run(blocker, {});
    await blocking.opened;
    const runs = [];
    for (const [name, priority] of [["low-a", 5], ["low-b", 5], ["mid", undefined], ["high-a", 1], ["low-c", 5], ["high-b", 1], ["two", 2]] as const) {
      runs.push(await engine.run(job, { name }, priority === undefined ? {} : { priority }));
    }
    // Every task is dispatched and waits for the one slot.
    for (const run of runs) {
      for await (const e of run.events()) if (e.type === "task.dispatched") break;
    }
    release.open();
    await held.result();
    const records = await Promise.all(runs.map((r) => r.result()));
    expect(records.every((r) => r.status === "succeeded")).toBe(true);
    expect(started).toEqual(["high-a", "high-b", "two", "mid", "low-a", "low-b", "low-c"]);
    expect(records[0]!.options).toMatchObject({ priority: 5 });
    // The default (3) is not written out.
    expect(records[2]!.options?.priority).toBeUndefined();
  });

  it("runtime - a workflow's priority is its runs' default; a run's own priority wins", async () => {
    const { engine, started, blocking, release, blocker, job } = setup({ workflowPriority: 4 });
    expect(compile(job).priority).toBe(4);
    const held = await engine.run(blocker, {});
    await blocking.opened;
    const first = await engine.run(job, { name: "workflow-default" });
    const second = await engine.run(job, { name: "run-says-2" }, { priority: 2 });
    for (const run of [first, second]) {
      for await (const e of run.events()) if (e.type === "task.dispatched") break;
    }
    release.open();
    await held.result();
    expect((await first.result()).options).toMatchObject({ priority: 4 });
    await second.result();
    expect(started).toEqual(["run-says-2", "workflow-default"]);
  });

  it("runtime - a priority outside 1..5 is refused with a clear error, and nothing starts", async () => {
    const { engine, started, job } = setup();
    await expect(engine.run(job, { name: "x" }, { priority: 0 })).rejects.toThrow(/priority is 1 \(first\) to 5 \(last\)/);
    await expect(engine.run(job, { name: "x" }, { priority: 2.5 })).rejects.toThrow(/priority/);
    const ok = await engine.run(job, { name: "y" }, { priority: 1 });
    expect((await ok.result()).status).toBe("succeeded");
    expect(started).toEqual(["y"]);
  });
});
