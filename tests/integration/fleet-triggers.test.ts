// Schedules, polling sources and start keys on a real nats-server, with two
// coordinators serving the same workflows: one run per schedule tick between them,
// 50 runs in all from a source that returns the same 50 items on every pass, and one
// run for a start key used twice.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { readTriggerStates } from "../../src/fleet/trigger-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";
import { startKeyKvKey } from "../../src/fleet/start-keys.js";
import { runCli } from "../../src/cli/run-cli.js";

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, isTTY: false });
  return { code, stdout, stderr };
}

const url = inject("natsUrl");
const prefix = "trig";

const ticker = workflow("ticker", { version: "1", schedules: [{ name: "fast", every: "1s", catchUp: "skip" }] });
ticker.state("only").task("work", { executor: "tk/work" });
const polled = workflow("polled", { version: "1", input: z.object({ n: z.number() }), sources: [{ name: "inbox", every: "1s", executor: "tk/list" }] });
polled.state("only").task("work", { executor: "tk/work" });
const keyed = workflow("keyed", { version: "1" });
keyed.state("only").task("work", { executor: "tk/work" });

let passes = 0;
const registry = createRegistry();
registry.namespace("tk").register("work", () => ({ ok: true }));
registry.namespace("tk").register("list", () => {
  passes++;
  return Array.from({ length: 50 }, (_, i) => ({ key: `mail-${i}`, input: { n: i } }));
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("fleet - schedules, sources and start keys", () => {
  const coordinators: CoordinatorService[] = [];
  let worker: NatsWorker;
  let client: Client;

  beforeAll(async () => {
    worker = await startNatsWorker({ nats: { servers: url, prefix }, registry, concurrency: 16 });
    const workflows = [ticker, polled, keyed] as Workflow<unknown>[];
    coordinators.push(await startCoordinatorService({ nats: { servers: url, prefix }, workflows, coordinatorId: "c-a", leaseMs: 5000 }));
    coordinators.push(await startCoordinatorService({ nats: { servers: url, prefix }, workflows, coordinatorId: "c-b", leaseMs: 5000 }));
    client = await createClient({ servers: url, prefix });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    for (const c of coordinators) await c.close();
    await worker?.stop({ graceful: false });
  }, 60_000);

  it("fleet - two coordinators serving one schedule start exactly one run per tick", async () => {
    const tickerRuns = async () => (await client.list({ limit: 1000 })).filter((r) => r.workflow === "ticker").map((r) => r.runId).sort();
    await until("four schedule ticks", async () => ((await tickerRuns()).length >= 4 ? true : undefined));
    // Both coordinators serve it (no lease): the start keys make them agree.
    const ids = await tickerRuns();
    const ticks = ids.map((id) => Date.parse(id.replace(/^ticker-fast-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z")));
    expect(ticks.every((t) => Number.isFinite(t))).toBe(true);
    // One run per tick: consecutive seconds, none twice, none skipped between the first and the last.
    const first = ticks[0]!;
    expect(ticks).toEqual(ticks.map((_, i) => first + i * 1000));
    const states = await readTriggerStates(coordinators[0]!.transport);
    const fast = states.find((s) => s.workflow === "ticker" && s.id === "fast")!;
    expect(fast.describe).toBe("every 1s");
    expect(fast.nextTick).toBeGreaterThan(fast.lastTick!);
    const listed = await cli(["schedules", "--nats", url, "--prefix", prefix]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^WORKFLOW\s+NAME\s+KIND\s+WHEN\s+CATCH-UP\s+LAST TICK\s+NEXT TICK\s+LAST$/m);
    expect(listed.stdout).toMatch(/^ticker\s+fast\s+schedule\s+every 1s\s+skip\s+\d{4}-\d\d-\d\dT\S+Z\s+\d{4}-\S+Z\s+ticker-fast-\d{8}T\d{6}Z$/m);
    expect(listed.stdout).toMatch(/^polled\s+inbox\s+source\s+every 1s via tk\/list\s+-/m);
  }, 90_000);

  it("fleet - a source returning the same 50 items on every pass starts 50 runs in all", async () => {
    await until("three source passes", () => Promise.resolve(passes >= 3 ? true : undefined));
    const polledRuns = async () => (await client.list({ limit: 1000 })).filter((r) => r.workflow === "polled");
    await until("the 50 runs to finish", async () => ((await polledRuns()).filter((r) => r.status === "succeeded").length >= 50 ? true : undefined));
    const passesNow = passes;
    await until("two more passes", () => Promise.resolve(passes >= passesNow + 2 ? true : undefined));
    const runs = await polledRuns();
    expect(runs).toHaveLength(50);
    // Each item key maps to one of those runs.
    const kv = coordinators[0]!.transport.buckets.runs;
    const mapped = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const entry = await kv.get(startKeyKvKey("polled", `mail-${i}`));
      mapped.add(entry!.json<{ runId: string }>().runId);
    }
    expect(mapped).toEqual(new Set(runs.map((r) => r.runId)));
    const record = await client.get([...mapped][0]!);
    expect(record.status).toBe("succeeded");
  }, 120_000);

  it("fleet - a start key used twice returns the same run id", async () => {
    const other = await createClient({ servers: url, prefix });
    try {
      const [a, b] = await Promise.all([client.start("keyed", {}, { key: "invoice-17" }), other.start("keyed", {}, { key: "invoice-17" })]);
      expect(b.runId).toBe(a.runId);
      expect([a.existing, b.existing].sort()).toEqual([false, true]);
      const again = await client.start("keyed", {}, { key: "invoice-17" });
      expect(again).toMatchObject({ runId: a.runId, existing: true });
      expect((await client.waitForEnd(a.runId)).status).toBe("succeeded");
      const afterEnd = await other.start("keyed", {}, { key: "invoice-17" });
      expect(afterEnd.runId).toBe(a.runId);
      const fresh = await client.start("keyed", {}, { key: "invoice-18" });
      expect(fresh.runId).not.toBe(a.runId);
      // The command line's --key: the same run, said so, and nothing new started.
      const viaCli = await cli(["run", "--nats", url, "--prefix", prefix, "--workflow", "keyed", "--key", "invoice-17", "--detach"]);
      expect(viaCli.code).toBe(0);
      expect(viaCli.stdout.trim()).toBe(a.runId);
      expect(viaCli.stderr).toContain(`key "invoice-17" had already started run ${a.runId}`);
      expect((await client.list({ limit: 1000 })).filter((r) => r.workflow === "keyed")).toHaveLength(2);
      // Keys last as long as their runs: once the run is pruned, the key starts a new one.
      await client.waitForEnd(fresh.runId);
      const { removed } = await client.prune(0);
      expect(removed).toContain(a.runId);
      const reborn = await client.start("keyed", {}, { key: "invoice-17" });
      expect(reborn.existing).toBe(false);
      expect(reborn.runId).not.toBe(a.runId);
    } finally {
      await other.close();
    }
  }, 60_000);
});
