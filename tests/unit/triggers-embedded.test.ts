/**
 * Schedules, sources and start keys on an embedded engine, on fake time: the loop is
 * the one fleet coordinators run, so these show its rules (one run per tick, catch-up,
 * one run per source key, batch caps) without a server.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import type { ScheduleOptions } from "../../src/dsl/triggers.js";
import { createRegistry } from "../../src/registry/registry.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { serveTriggers, type TriggerServer } from "../../src/embedded/triggers.js";
import { createMemoryTriggerStore, triggerKey } from "../../src/triggers/trigger-state.js";
import { createFakeClock, type FakeClock } from "../support/fake-clock.js";

const T0 = Date.parse("2026-03-10T00:00:00Z");
const MIN = 60_000;

const registry = createRegistry();
registry.namespace("t").register("work", (input: { n?: number }) => ({ done: input.n ?? 0 }));
const items = Array.from({ length: 50 }, (_, i) => ({ key: `item-${i}`, input: { n: i } }));
let passes = 0;
registry.namespace("t").register("list", () => {
  passes++;
  return items;
});

function flow(name: string, schedules: ScheduleOptions<{ n?: number }>[] = [], sources: { every: string; executor: `${string}/${string}`; batch?: number }[] = []): Workflow<unknown> {
  const wf = workflow(name, { version: "1", input: z.object({ n: z.number().optional() }), schedules, sources });
  wf.state("only").task("work", { executor: "t/work" });
  return wf;
}

const open: { stop(): void }[] = [];
const engines: Engine[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) o.stop();
  for (const e of engines.splice(0)) await e.close();
});

function setup(clock: FakeClock): Engine {
  const engine = createEngine({ registry, clock, random: () => 0.5 });
  engines.push(engine);
  return engine;
}

async function serve(engine: Engine, clock: FakeClock, wf: Workflow<unknown>, store = createMemoryTriggerStore()): Promise<TriggerServer> {
  const server = await serveTriggers({ engine, workflows: [wf], clock, store });
  open.push(server);
  return server;
}

const runsOf = (server: TriggerServer, wf: string): string[] => [...server.runs.keys()].filter((id) => !id.includes("-pass-") && id.startsWith(wf)).sort();

describe("triggers - embedded, on fake time", () => {
  it("triggers - an every schedule starts one run per tick, with ids derived from the tick", async () => {
    const clock = createFakeClock(T0 + 1000);
    const engine = setup(clock);
    const server = await serve(engine, clock, flow("ticker", [{ name: "q", every: "1m", input: { n: 7 } }]));
    expect(server.runs.size).toBe(0); // first sight: nothing for the past
    await clock.advance(3 * MIN);
    expect([...server.runs.keys()]).toEqual(["ticker-q-20260310T000100Z", "ticker-q-20260310T000200Z", "ticker-q-20260310T000300Z"]);
    const record = await server.runs.get("ticker-q-20260310T000100Z")!.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ done: 7 });
  });

  it("triggers - two loops serving one schedule start one run per tick between them", async () => {
    const clock = createFakeClock(T0 + 1000);
    const engine = setup(clock);
    const wf = flow("shared", [{ every: "1m" }]);
    const store = createMemoryTriggerStore();
    const a = await serve(engine, clock, wf, store);
    const b = await serve(engine, clock, wf, store);
    await clock.advance(5 * MIN);
    const ids = new Set([...a.runs.keys(), ...b.runs.keys()]);
    expect(ids.size).toBe(5);
    expect([...ids].every((id) => /^shared-s0-20260310T000[1-5]00Z$/.test(id))).toBe(true);
  });

  it("triggers - catch-up after downtime: latest starts one, all starts each missed tick, skip none", async () => {
    const started: Record<string, number> = {};
    for (const catchUp of ["latest", "all", "skip"] as const) {
      // Ten 5-minute ticks missed, the last two minutes ago (later than the 60 s a tick is on time).
      const clock = createFakeClock(T0 + 52 * MIN);
      const engine = setup(clock);
      const wf = flow(`cu-${catchUp}`, [{ every: "5m", catchUp }]);
      // What a coordinator stored before everyone went down.
      const store = createMemoryTriggerStore();
      await store.create(triggerKey("schedule", wf.name, "s0"), { kind: "schedule", workflow: wf.name, id: "s0", describe: "every 5m", lastTick: T0, updatedAt: T0 });
      const server = await serveTriggers({ engine, workflows: [wf], clock, store });
      open.push(server);
      await clock.flush();
      started[catchUp] = server.runs.size;
      if (catchUp === "latest") expect([...server.runs.keys()]).toEqual([`cu-latest-s0-20260310T005000Z`]);
      // Back on time: the next tick starts its run under every policy.
      await clock.advance(5 * MIN);
      expect(server.runs.size).toBe(started[catchUp] + 1);
    }
    expect(started).toEqual({ latest: 1, all: 10, skip: 0 });
  });

  it("triggers - a source returning the same 50 items every pass starts 50 runs, at most batch per pass", async () => {
    passes = 0;
    const clock = createFakeClock(T0 + 500);
    const engine = setup(clock);
    const wf = flow("polled", [], [{ every: "10s", executor: "t/list", batch: 20 }]);
    const server = await serve(engine, clock, wf);
    await clock.flush();
    expect(runsOf(server, "polled")).toHaveLength(0); // the items start when the first pass ended
    await clock.advance(1);
    const after: number[] = [];
    for (let i = 0; i < 5; i++) {
      after.push([...server.runs.keys()].filter((id) => !id.includes("-pass-")).length);
      await clock.advance(10_000);
    }
    expect(after).toEqual([20, 40, 50, 50, 50]);
    expect(passes).toBeGreaterThanOrEqual(5);
    const keys = new Set<string>();
    for (const it of items) keys.add(engine.keyedRun("polled", it.key)!);
    expect(keys.size).toBe(50);
  });

  it("triggers - start keys: a second run with the same key returns the first run", async () => {
    const clock = createFakeClock(T0);
    const engine = setup(clock);
    const wf = flow("keyed");
    const [a, b] = await Promise.all([engine.run(wf, { n: 1 }, { key: "order-1" }), engine.run(wf, { n: 2 }, { key: "order-1" })]);
    expect(b.runId).toBe(a.runId);
    expect(engine.keyedRun("keyed", "order-1")).toBe(a.runId);
    const c = await engine.run(wf, { n: 3 }, { key: "order-2" });
    expect(c.runId).not.toBe(a.runId);
    await clock.runAll();
    expect((await a.result()).output).toEqual({ done: 1 });
  });
});
