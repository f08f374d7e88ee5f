// README "Traffic control" on a fleet: task concurrency and rate limits live in the fleet's
// KV store (compare-and-set), so they hold across every coordinator and worker. Two
// coordinator services and two NATS workers in this process, on a real nats-server;
// judged from the executors' own log (attempts in flight per key, start times).
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";

const url = inject("natsUrl");
const PREFIX = "limits";

const tenantInput = z.object({ tenant: z.string() });
const perTenant = workflow("limits-tenant", { version: "1", input: tenantInput });
perTenant.state("s").task("call", { executor: "lim/call", input: tenantInput, concurrency: { limit: 2, key: (input) => input.tenant } });
const rated = workflow("limits-rate", { version: "1" });
rated.state("s").task("send", { executor: "lim/send", rateLimit: { limit: 5, periodMs: 1000 } });

const inFlight = new Map<string, number>();
const most = new Map<string, number>();
let keysAtOnce = 0;
const starts: number[] = [];

const registry = createRegistry();
registry.namespace("lim").register("call", async (input: { tenant: string }) => {
  const n = (inFlight.get(input.tenant) ?? 0) + 1;
  inFlight.set(input.tenant, n);
  most.set(input.tenant, Math.max(most.get(input.tenant) ?? 0, n));
  keysAtOnce = Math.max(keysAtOnce, [...inFlight.values()].filter((v) => v > 0).length);
  await new Promise((r) => setTimeout(r, 150));
  inFlight.set(input.tenant, inFlight.get(input.tenant)! - 1);
  return { ok: true };
});
registry.namespace("lim").register("send", () => {
  starts.push(Date.now());
  return { sent: true };
});

describe("fleet - task limits hold across coordinators and workers", () => {
  const services: CoordinatorService[] = [];
  const workers: NatsWorker[] = [];
  let client: Client;

  beforeAll(async () => {
    for (const id of ["c1", "c2"]) services.push(await startCoordinatorService({ nats: { servers: url, prefix: PREFIX }, workflows: [perTenant, rated], coordinatorId: id }));
    for (const id of ["w1", "w2"]) workers.push(await startNatsWorker({ nats: { servers: url, prefix: PREFIX }, registry, workerId: id, concurrency: 8 }));
    client = await createClient({ servers: url, prefix: PREFIX });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    for (const w of workers) await w.stop({ graceful: false });
    for (const s of services) await s.close();
  }, 60_000);

  it("fleet - a per-key limit of 2 holds across 12 runs while other keys run side by side", async () => {
    const tenants = [...Array.from({ length: 12 }, () => "acme"), ...Array.from({ length: 4 }, () => "zeta"), ...Array.from({ length: 4 }, () => "ymir")];
    const runs = await Promise.all(tenants.map((tenant) => client.start("limits-tenant", { tenant })));
    const records = await Promise.all(runs.map((r) => client.waitForEnd(r.runId)));
    expect(records.map((r) => r.status)).toEqual(records.map(() => "succeeded"));
    expect(most.get("acme")).toBe(2);
    expect(Math.max(most.get("zeta")!, most.get("ymir")!)).toBeLessThanOrEqual(2);
    expect(keysAtOnce).toBeGreaterThan(1);
  }, 120_000);

  it("fleet - a rate limit of 5 per second holds across runs", async () => {
    const runs = await Promise.all(Array.from({ length: 12 }, () => client.start("limits-rate", {})));
    const records = await Promise.all(runs.map((r) => client.waitForEnd(r.runId)));
    expect(records.every((r) => r.status === "succeeded")).toBe(true);
    const sorted = [...starts].sort((a, b) => a - b);
    // By the executors' clock, with slack for the way from the limit to a worker: any 5 + 1 starts span over 700 ms.
    for (let i = 0; i + 5 < sorted.length; i++) expect(sorted[i + 5]! - sorted[i]!).toBeGreaterThan(700);
  }, 120_000);
});
