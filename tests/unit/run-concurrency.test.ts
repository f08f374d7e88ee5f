/**
 * README "Traffic control", embedded: a workflow's `concurrency: { limit, key, onLimit }`
 * keeps one run per user in flight. "queue" starts the rest later in order (a queued run's
 * record says what it waits for), "cancel-in-progress" cancels the oldest running run
 * first, "drop" refuses the start with RunLimitReachedError; other users' runs go on side
 * by side. Executors announce their start and wait on gates: no sleeps.
 */
import { afterEach, describe, expect, it } from "vitest";
import { workflow, type OnRunLimit } from "../../src/dsl/workflow.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { RunLimitReachedError } from "../../src/errors/limits.js";
import { createRegistry } from "../../src/registry/registry.js";
import { z } from "zod";
import { heldRuns } from "../support/held-runs.js";

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

function setup(onLimit: OnRunLimit) {
  const registry = createRegistry();
  const held = heldRuns();
  registry.namespace("rc").register("work", held.executor);
  const sync = workflow("sync", { version: "1", input: z.object({ user: z.string(), name: z.string() }), concurrency: { limit: 1, key: (input) => input.user, onLimit } });
  sync.state("s").task("work", { executor: "rc/work" });
  engine = createEngine({ registry, concurrency: 8 });
  return {
    engine,
    sync,
    log: held.log,
    started: held.started,
    release: held.release,
    overlap: held.mostOfAny,
  };
}

describe("runtime - run concurrency per key (embedded)", () => {
  it('runtime - onLimit "queue": a user\'s second run waits (its status says for what) and starts when the first ends; another user\'s run goes on meanwhile', async () => {
    const t = setup("queue");
    const a1 = await t.engine.run(t.sync, { user: "ann", name: "a1" });
    await t.started("a1");
    const a2 = await t.engine.run(t.sync, { user: "ann", name: "a2" });
    const a3 = await t.engine.run(t.sync, { user: "ann", name: "a3" });
    const b1 = await t.engine.run(t.sync, { user: "bob", name: "b1" });
    await t.started("b1"); // bob is not held up by ann's queue
    expect(a2.status()).toMatchObject({ status: "pending", waitingFor: "queued: workflow limit sync[ann] 1/1 in use, 0 queued ahead" });
    expect(t.engine.get(a2.runId)).toMatchObject({ status: "pending", waitingFor: "queued: workflow limit sync[ann] 1/1 in use, 0 queued ahead" });
    expect(a3.status().waitingFor).toContain("1 queued ahead");
    expect(a2.runId).not.toBe(a1.runId);
    t.release("a1");
    await t.started("a2");
    expect(a3.status().status).toBe("pending");
    t.release("a2");
    await t.started("a3");
    t.release("a3");
    t.release("b1");
    for (const h of [a1, a2, a3, b1]) expect((await h.result()).status).toBe("succeeded");
    expect(t.log.filter((l) => !l.includes("b1"))).toEqual(["start a1", "end a1", "start a2", "end a2", "start a3", "end a3"]);
    expect(t.overlap()).toBe(1);
    expect((await a2.result()).runId).toBe(a2.runId);
  });

  it('runtime - onLimit "queue": a priority-1 run queued later starts before a priority-3 run queued earlier', async () => {
    const t = setup("queue");
    const a1 = await t.engine.run(t.sync, { user: "ann", name: "a1" });
    await t.started("a1");
    const a2 = await t.engine.run(t.sync, { user: "ann", name: "a2" });
    const a3 = await t.engine.run(t.sync, { user: "ann", name: "a3" }, { priority: 1 });
    expect(a3.status().waitingFor).toContain("0 queued ahead");
    t.release("a1");
    await t.started("a3");
    t.release("a3");
    await t.started("a2");
    t.release("a2");
    for (const h of [a1, a2, a3]) expect((await h.result()).status).toBe("succeeded");
    expect(t.log).toEqual(["start a1", "end a1", "start a3", "end a3", "start a2", "end a2"]);
  });

  it('runtime - onLimit "queue": a queued run cancelled before it starts never runs', async () => {
    const t = setup("queue");
    await t.engine.run(t.sync, { user: "ann", name: "a1" });
    await t.started("a1");
    const a2 = await t.engine.run(t.sync, { user: "ann", name: "a2" });
    const a3 = await t.engine.run(t.sync, { user: "ann", name: "a3" });
    await a2.cancel("not needed");
    expect((await a2.result()).status).toBe("cancelled");
    t.release("a1");
    await t.started("a3");
    t.release("a3");
    expect((await a3.result()).status).toBe("succeeded");
    expect(t.log).not.toContain("start a2");
  });

  it('runtime - onLimit "cancel-in-progress": a new run cancels the user\'s running one, then starts', async () => {
    const t = setup("cancel-in-progress");
    const a1 = await t.engine.run(t.sync, { user: "ann", name: "a1" });
    await t.started("a1");
    const b1 = await t.engine.run(t.sync, { user: "bob", name: "b1" });
    await t.started("b1");
    const a2 = await t.engine.run(t.sync, { user: "ann", name: "a2" });
    const first = await a1.result();
    expect(first.status).toBe("cancelled");
    expect(first.reason).toContain(`cancelled by run ${a2.runId}`);
    await t.started("a2");
    t.release("a2");
    t.release("b1");
    expect((await a2.result()).status).toBe("succeeded");
    expect((await b1.result()).status).toBe("succeeded"); // bob's run was not touched
    expect(t.overlap()).toBe(1);
  });

  it('runtime - onLimit "drop": a user\'s second start is refused with RUN_LIMIT_REACHED while the first runs; later starts run', async () => {
    const t = setup("drop");
    const a1 = await t.engine.run(t.sync, { user: "ann", name: "a1" });
    await t.started("a1");
    const refused = await t.engine.run(t.sync, { user: "ann", name: "a2" }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RunLimitReachedError);
    expect(refused).toMatchObject({ code: "RUN_LIMIT_REACHED", key: "ann", limit: 1 });
    expect((refused as Error).message).toContain('workflow "sync" already has 1/1 runs in flight for key "ann"');
    const b1 = await t.engine.run(t.sync, { user: "bob", name: "b1" });
    await t.started("b1");
    t.release("a1");
    t.release("b1");
    expect((await a1.result()).status).toBe("succeeded");
    expect((await b1.result()).status).toBe("succeeded");
    const a3 = await t.engine.run(t.sync, { user: "ann", name: "a3" });
    await t.started("a3");
    t.release("a3");
    expect((await a3.result()).status).toBe("succeeded");
    expect(t.log).not.toContain("start a2");
  });

  it("runtime - start keys still return the run the first start made, also a queued one", async () => {
    const t = setup("queue");
    await t.engine.run(t.sync, { user: "ann", name: "a1" });
    await t.started("a1");
    const a2 = await t.engine.run(t.sync, { user: "ann", name: "a2" }, { key: "k2" });
    const again = await t.engine.run(t.sync, { user: "ann", name: "a2" }, { key: "k2" });
    expect(again.runId).toBe(a2.runId);
    t.release("a1");
    await t.started("a2");
    t.release("a2");
    expect((await again.result()).status).toBe("succeeded");
  });
});
