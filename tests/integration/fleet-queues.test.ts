// README "Traffic control": `phaseflow queues` on a fleet shows, per task limit and key, the
// attempts running, those waiting (counted by every coordinator for its own runs) and the rate
// use. Two coordinator services and one NATS worker in this process, on a real nats-server;
// the executor holds its attempts until the test has read the table, so nothing moves meanwhile.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";

const url = inject("natsUrl");
const PREFIX = "fqueues";

const tenantInput = z.object({ tenant: z.string() });
const limited = workflow("queues-tenant", { version: "1", input: tenantInput });
limited.state("s").task("call", {
  executor: "lq/call",
  input: tenantInput,
  concurrency: { limit: 2, key: (input) => input.tenant },
  rateLimit: { limit: 100, periodMs: 60_000, key: (input) => input.tenant },
});

let running = 0;
let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => (release = resolve));
const registry = createRegistry();
registry.namespace("lq").register("call", async () => {
  running++;
  await released;
  return { ok: true };
});

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false });
  return { code, stdout, stderr };
}

describe("fleet - phaseflow queues", () => {
  const services: CoordinatorService[] = [];
  let worker: NatsWorker;
  let client: Client;

  beforeAll(async () => {
    for (const id of ["q1", "q2"]) services.push(await startCoordinatorService({ nats: { servers: url, prefix: PREFIX }, workflows: [limited], coordinatorId: id }));
    worker = await startNatsWorker({ nats: { servers: url, prefix: PREFIX }, registry, workerId: "fqueues-worker", concurrency: 8 });
    client = await createClient({ servers: url, prefix: PREFIX });
  }, 60_000);

  afterAll(async () => {
    release();
    await client?.close();
    await worker?.stop({ graceful: false });
    for (const s of services) await s.close();
  }, 60_000);

  it("fleet - queues shows running, waiting and rate use per limit and key while attempts wait", async () => {
    const runs = await Promise.all(Array.from({ length: 6 }, () => client.start("queues-tenant", { tenant: "acme" })));
    await expect.poll(() => running, { timeout: 60_000 }).toBe(2);
    // Every coordinator counts the attempts of its own runs that wait; the table adds them up.
    await expect
      .poll(async () => (await client.queues()).rows.find((r) => r.scope === "lq/call" && r.key === "acme")?.waiting, { timeout: 60_000, interval: 200 })
      .toBe(4);

    const text = await cli(["queues", "--nats", url, "--prefix", PREFIX]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/lq\/call\s+\[acme\]\s+running 2\/2\s+waiting 4\s+rate 2\/100 per 1m/);

    const json = await cli(["queues", "--nats", url, "--prefix", PREFIX, "--json"]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { rows: unknown[]; unanswered: string[] };
    expect(parsed.unanswered).toEqual([]);
    expect(parsed.rows).toEqual([{ scope: "lq/call", key: "acme", waiting: 4, concurrency: { running: 2, limit: 2 }, rate: { started: 2, limit: 100, periodMs: 60_000 } }]);

    release();
    const records = await Promise.all(runs.map((r) => client.waitForEnd(r.runId)));
    expect(records.map((r) => r.status)).toEqual(records.map(() => "succeeded"));
    // A slot is given back with the coordinator's next limit write (at most releaseDelayMs after the report when nothing waits).
    await expect
      .poll(async () => (await client.queues()).rows.find((r) => r.key === "acme"), { timeout: 30_000, interval: 100 })
      .toMatchObject({ waiting: 0, concurrency: { running: 0 } });
  }, 120_000);
});
