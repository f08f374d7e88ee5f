/**
 * README "Traffic control", embedded: task concurrency and rate limits hold across runs of
 * one engine, judged from the executors' own log (a counter of attempts in flight per key,
 * and their start times), while other keys run side by side; attempts over a limit wait
 * without a worker slot and say what they wait for.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { createRegistry } from "../../src/registry/registry.js";

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

const tenantInput = z.object({ tenant: z.string() });

/** The executors' own log: attempts in flight per key now, the most ever, and every start. */
function executorLog() {
  const inFlight = new Map<string, number>();
  const most = new Map<string, number>();
  const starts: number[] = [];
  let bothAtOnce = false;
  return {
    most,
    starts,
    get bothAtOnce() {
      return bothAtOnce;
    },
    async run(key: string, ms: number): Promise<void> {
      const n = (inFlight.get(key) ?? 0) + 1;
      inFlight.set(key, n);
      most.set(key, Math.max(most.get(key) ?? 0, n));
      if ([...inFlight.values()].filter((v) => v > 0).length > 1) bothAtOnce = true;
      starts.push(Date.now());
      await new Promise((r) => setTimeout(r, ms));
      inFlight.set(key, inFlight.get(key)! - 1);
    },
  };
}

describe("traffic control - embedded", () => {
  it("traffic control - a per-key limit of 2 holds across 12 runs while another key runs side by side", async () => {
    const log = executorLog();
    const registry = createRegistry();
    registry.namespace("llm").register("complete", async (input: { tenant: string }) => {
      await log.run(input.tenant, 40);
      return { ok: true };
    });
    const wf = workflow("sync", { version: "1", input: tenantInput });
    wf.state("s").task("call", { executor: "llm/complete", input: tenantInput, concurrency: { limit: 2, key: (input) => input.tenant } });
    engine = createEngine({ registry, concurrency: 16 });
    const e = engine;
    const runs = [...Array.from({ length: 12 }, () => "acme"), ...Array.from({ length: 6 }, () => "zeta")].map((tenant) => e.run(wf, { tenant }));
    const records = await Promise.all((await Promise.all(runs)).map((h) => h.result()));
    expect(records.map((r) => r.status)).toEqual(records.map(() => "succeeded"));
    expect(log.most.get("acme")).toBe(2);
    expect(log.most.get("zeta")).toBe(2);
    expect(log.bothAtOnce).toBe(true);
  });

  it("traffic control - attempts over a limit hold no worker slot and say what they wait for", async () => {
    const log = executorLog();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const registry = createRegistry();
    registry.namespace("llm").register("complete", async (input: { tenant: string }) => {
      if (input.tenant === "acme") await held;
      await log.run(input.tenant, 5);
      return { ok: true };
    });
    const wf = workflow("sync", { version: "1", input: tenantInput });
    wf.state("s").task("call", { executor: "llm/complete", input: tenantInput, concurrency: { limit: 1, key: (input) => input.tenant } });
    // Two worker slots: acme holds one, two more acme attempts wait for their limit, and zeta still gets the other slot.
    engine = createEngine({ registry, concurrency: 2 });
    const e = engine;
    const acme = await Promise.all([0, 1, 2].map(() => e.run(wf, { tenant: "acme" })));
    const zeta = await Promise.all([0, 1, 2].map(() => e.run(wf, { tenant: "zeta" })));
    expect((await Promise.all(zeta.map((h) => h.result()))).map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    const waiting = acme.map((h) => h.status().tasks[0]!.waitingFor).filter((w) => w !== undefined);
    expect(waiting).toEqual(["waiting for limit llm/complete[acme]: 1/1 in use", "waiting for limit llm/complete[acme]: 1/1 in use"]);
    release();
    expect((await Promise.all(acme.map((h) => h.result()))).map((r) => r.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    expect(log.most.get("acme")).toBe(1);
  });

  it("traffic control - a rate limit of 5 per second holds across runs", async () => {
    const log = executorLog();
    const registry = createRegistry();
    registry.namespace("mail").register("send", async () => {
      await log.run("all", 1);
      return { sent: true };
    });
    const wf = workflow("notify", { version: "1" });
    wf.state("s").task("send", { executor: "mail/send", rateLimit: { limit: 5, periodMs: 1000 } });
    engine = createEngine({ registry, concurrency: 16 });
    const e = engine;
    const records = await Promise.all(Array.from({ length: 12 }, async () => (await e.run(wf, {})).result()));
    expect(records.every((r) => r.status === "succeeded")).toBe(true);
    const starts = [...log.starts].sort((a, b) => a - b);
    // Judged by the executors' clock, with slack for the way from the limit to the executor: any 5 + 1 starts span over 800 ms.
    for (let i = 0; i + 5 < starts.length; i++) expect(starts[i + 5]! - starts[i]!).toBeGreaterThan(800);
  });

  it("traffic control - a key function that throws fails its task, naming the fix", async () => {
    const registry = createRegistry();
    registry.namespace("llm").register("complete", () => ({ ok: true }));
    const wf = workflow("sync", { version: "1" });
    wf.state("s").task("call", { executor: "llm/complete", concurrency: { limit: 1, key: (input: { tenant: string }) => input.tenant.toUpperCase() } });
    engine = createEngine({ registry });
    const r = await (await engine.run(wf, {})).result();
    expect(r.status).toBe("failed");
    const task = r.tasks.find((t) => t.task === "call")!;
    expect(task.error).toMatchObject({ code: "LIMIT_KEY_FAILED" });
    expect(task.error?.message).toContain("concurrency.key threw");
  });
});
