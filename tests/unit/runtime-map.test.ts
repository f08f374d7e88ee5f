import { describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { testEngine } from "../support/runtime-fixtures.js";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import { taskSeed } from "../../src/runtime/core/seed.js";
import { compile } from "../../src/compiler/compile.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { recordOfHistory, runRecordOf } from "../../src/runtime/core/run-record.js";
import { createRunState, foldEvents } from "../../src/runtime/core/run-state.js";

const later = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("runtime - state.map", () => {
  it("runtime - a root map over the state input runs one instance per item, in item order", async () => {
    const wf = workflow("map-root", { version: "1" });
    const s = wf.state("s");
    s.map("sq", { executor: "m/sq", items: (inp: { xs: number[] }) => inp.xs });
    const t = testEngine();
    const seen: unknown[] = [];
    t.registry.namespace("m").register("sq", (x: number, ctx: TaskContext) => {
      seen.push(ctx.item);
      return x * x;
    });
    try {
      const r = await (await t.engine.run(wf, { xs: [1, 2, 3] })).result();
      expect(r.status).toBe("succeeded");
      expect(r.output).toEqual({ sq: [1, 4, 9] });
      expect(seen).toContainEqual({ index: 2, count: 3 });
      expect(r.tasks.map((x) => x.task)).toEqual(["sq", "sq[0]", "sq[1]", "sq[2]"]);
      expect(r.tasks[0]!.instances).toEqual({ count: 3, succeeded: 3, failed: 0, running: 0, cancelled: 0 });
      expect(r.tasks[1]).toMatchObject({ id: "s/sq[0]", map: "sq", index: 0, status: "succeeded", output: 1 });
    } finally {
      await t.close();
    }
  });

  it("runtime - a map fed by a parent feeds a fan-in its outputs in item order, however the instances finish", async () => {
    const wf = workflow("map-chain", { version: "1" });
    const s = wf.state("s");
    const plan = s.task("plan", { executor: "m/plan", params: { n: 6 } });
    const run = s.map("run", { executor: "m/run", items: (inp: { cells: number[] }) => inp.cells, params: { scale: 10 } });
    const agg = s.task("agg", { executor: "m/agg" });
    plan.then(run).then(agg);
    const t = testEngine();
    const finished: number[] = [];
    let aggCtx: TaskContext | undefined;
    let aggInput: unknown;
    const ns = t.registry.namespace("m");
    ns.register("plan", (_: unknown, ctx: TaskContext<{ n: number }>) => ({ cells: Array.from({ length: ctx.params.n }, (_, i) => i) }));
    ns.register("run", async (cell: number, ctx: TaskContext<{ scale: number }>) => {
      await later((6 - cell) * 5); // the last items finish first
      finished.push(cell);
      return { cell, value: cell * ctx.params.scale };
    });
    ns.register("agg", (input: unknown, ctx: TaskContext) => {
      aggInput = input;
      aggCtx = ctx;
      return { ok: true };
    });
    try {
      const r = await (await t.engine.run(wf, {})).result();
      expect(r.status).toBe("succeeded");
      expect(finished).not.toEqual([0, 1, 2, 3, 4, 5]);
      const expected = [0, 1, 2, 3, 4, 5].map((cell) => ({ cell, value: cell * 10 }));
      expect(aggInput).toEqual({ run: expected });
      expect(aggCtx!.parents).toEqual({ run: expected });
      expect(aggCtx!.item).toBeUndefined();
    } finally {
      await t.close();
    }
  });

  it("runtime - a fan-in that sorts its map input in place (embedded, by reference) leaves the instances' recorded outputs as they were", async () => {
    const wf = workflow("map-sort", { version: "1" });
    const s = wf.state("s");
    s.map("run", { executor: "m/run", items: () => [3, 1, 2] }).then(s.task("agg", { executor: "m/agg" }));
    const t = testEngine();
    t.registry
      .namespace("m")
      .register("run", (x: number) => x)
      .register("agg", (input: { run: number[] }) => input.run.sort((a, b) => a - b).join(","));
    try {
      const handle = await t.engine.run(wf, {});
      const r = await handle.result();
      expect(r.status).toBe("succeeded");
      expect(r.tasks.find((x) => x.task === "agg")?.output).toBe("1,2,3");
      expect(r.tasks.filter((x) => x.map === "run").map((x) => x.output)).toEqual([3, 1, 2]);
      expect(handle.status().tasks.filter((x) => x.map === "run").map((x) => x.output)).toEqual([3, 1, 2]);
    } finally {
      await t.close();
    }
  });

  it("runtime - an empty list succeeds at once with []", async () => {
    const wf = workflow("map-empty", { version: "1" });
    const s = wf.state("s");
    s.map("run", { executor: "m/run", items: () => [] }).then(s.task("after", { executor: "m/after" }));
    const t = testEngine();
    let input: unknown;
    t.registry.namespace("m").register("run", () => 1).register("after", (x: unknown) => (input = x));
    try {
      const r = await (await t.engine.run(wf, {})).result();
      expect(r.status).toBe("succeeded");
      expect(input).toEqual({ run: [] });
      expect(r.tasks.find((x) => x.task === "run")).toMatchObject({ status: "succeeded", output: [], instances: { count: 0 } });
    } finally {
      await t.close();
    }
  });

  it("runtime - toleratedFailures as a count and as a fraction", async () => {
    const build = (tolerated: number) => {
      const wf = workflow(`map-tol-${String(tolerated).replace(".", "_")}`, { version: "1" });
      wf.state("s").map("run", { executor: "m/run", items: () => Array.from({ length: 10 }, (_, i) => i), toleratedFailures: tolerated });
      return wf;
    };
    const t = testEngine();
    t.registry.namespace("m").register("run", (i: number) => {
      if (i % 5 === 1) throw new NonRetryableError(`item ${i} is bad`); // items 1 and 6 fail
      return i;
    });
    try {
      const ok = await (await t.engine.run(build(2), {})).result();
      expect(ok.status).toBe("succeeded");
      expect(ok.output).toEqual({ run: [0, null, 2, 3, 4, 5, null, 7, 8, 9] });
      expect(ok.tasks.find((x) => x.task === "run")!.instances).toMatchObject({ count: 10, succeeded: 8, failed: 2 });
      expect((await (await t.engine.run(build(0.2), {})).result()).status).toBe("succeeded");
      const bad = await (await t.engine.run(build(0.1), {})).result();
      expect(bad.status).toBe("failed");
      expect(bad.error!.message).toContain('map "s/run": 2 of 10 instances failed, 1 tolerated');
      expect(bad.error!.message).toContain("item 1 is bad");
      const none = await (await t.engine.run(build(1), {})).result();
      expect(none.status).toBe("failed");
    } finally {
      await t.close();
    }
  });

  it("runtime - maxConcurrency bounds the instances running at once", async () => {
    const wf = workflow("map-max", { version: "1" });
    wf.state("s").map("run", { executor: "m/run", items: () => Array.from({ length: 20 }, (_, i) => i), maxConcurrency: 3 });
    const t = testEngine({ concurrency: 16 });
    let now = 0;
    let peak = 0;
    t.registry.namespace("m").register("run", async (i: number) => {
      now++;
      peak = Math.max(peak, now);
      await later(2);
      now--;
      return i;
    });
    try {
      const r = await (await t.engine.run(wf, {})).result();
      expect(r.status).toBe("succeeded");
      expect(peak).toBe(3);
    } finally {
      await t.close();
    }
  });

  it("runtime - items that throw or return no array fail the map, naming it", async () => {
    const wf = workflow("map-bad-items", { version: "1" });
    const s = wf.state("s");
    s.map("run", {
      executor: "m/run",
      items: (inp: { mode: string }) => {
        if (inp.mode === "throw") throw new Error("no list today");
        return { not: "an array" } as unknown as number[];
      },
    });
    const t = testEngine();
    t.registry.namespace("m").register("run", () => 1);
    try {
      const thrown = await (await t.engine.run(wf, { mode: "throw" })).result();
      expect(thrown.status).toBe("failed");
      expect(thrown.error!.message).toContain('map "s/run": items(input) threw: no list today');
      const obj = await (await t.engine.run(wf, { mode: "object" })).result();
      expect(obj.error!.message).toContain('map "s/run": items(input) returned an object, not an array');
    } finally {
      await t.close();
    }
  });

  it("runtime - instances retry with the same ctx.seed, derived from the run seed", async () => {
    const wf = workflow("map-seed", { version: "1" });
    wf.state("s").map("run", { executor: "m/run", items: () => ["a", "b"], retries: 2, backoff: { initialMs: 0, maxMs: 0 } });
    const t = testEngine();
    const seeds = new Map<string, number[]>();
    t.registry.namespace("m").register("run", (x: string, ctx: TaskContext) => {
      seeds.set(x, [...(seeds.get(x) ?? []), ctx.seed]);
      if (ctx.attempt < 3) throw new Error("flaky");
      return ctx.seed;
    });
    try {
      const r = await (await t.engine.run(wf, {}, { seed: 42 })).result();
      expect(r.status).toBe("succeeded");
      expect(r.seed).toBe(42);
      expect(seeds.get("a")).toEqual([taskSeed(42, "s/run", 0), taskSeed(42, "s/run", 0), taskSeed(42, "s/run", 0)]);
      expect(r.output).toEqual({ run: [taskSeed(42, "s/run", 0), taskSeed(42, "s/run", 1)] });
      expect(taskSeed(42, "s/run", 0)).not.toBe(taskSeed(42, "s/run", 1));
      const other = await (await t.engine.run(wf, {}, { seed: 43 })).result();
      expect(other.output).not.toEqual(r.output);
      const byId = await (await t.engine.run(wf, {}, { runId: "seed-by-id" })).result();
      expect(typeof byId.seed).toBe("number");
    } finally {
      await t.close();
    }
  });

  it("runtime - a map of 10,000 items runs embedded, its outputs in item order", async () => {
    const wf = workflow("map-10k", { version: "1" });
    wf.state("s").map("run", { executor: "m/id", items: () => Array.from({ length: 10_000 }, (_, i) => i), maxConcurrency: 500 });
    const t = testEngine({ concurrency: 256 });
    t.registry.namespace("m").register("id", (i: number) => i);
    try {
      const r = await (await t.engine.run(wf, {})).result();
      expect(r.status).toBe("succeeded");
      const out = (r.output as { run: number[] }).run;
      expect(out).toHaveLength(10_000);
      expect(out.every((x, i) => x === i)).toBe(true);
      expect(r.tasks.find((x) => x.task === "run")!.instances).toMatchObject({ count: 10_000, succeeded: 10_000 });
      // The item list is in the history in pieces small enough for one stored message each.
      const pieces = (await t.events(r.runId)).filter((e) => e.type === "map.items");
      expect(pieces.length).toBeGreaterThanOrEqual(10);
      // The coordinator's fold of it holds no record object per instance: the map node is the one task object,
      // the instances are columns and one array of outputs (the map's output itself); readers get them built on demand.
      const history = await t.history(r.runId);
      const state = foldEvents(createRunState(r.runId, runModelOf(compile(wf), wf), { compact: true }), historyEvents(history));
      expect(state.tasks.size).toBe(1);
      expect(state.record.tasks.map((x) => x.task)).toEqual(["run"]);
      const tables = [...state.compact!.tables.values()];
      expect(tables.map((x) => [x.capacity, x.live.size])).toEqual([[10_000, 0]]);
      expect(tables[0]!.mapOutput(10_000)).toEqual(state.record.tasks[0]!.output);
      const full = runRecordOf(state);
      expect(full.tasks).toHaveLength(10_001);
      expect(full).toEqual(r);
      expect(full).toEqual(recordOfHistory(history));
    } finally {
      await t.close();
    }
  });
});

