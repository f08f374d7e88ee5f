// Isolation in a fleet: a worker serving only namespace "etl" never receives a task of
// namespace "review" (and the other way round), and two deployments with different
// prefixes on one nats-server do not see each other's runs.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { etl } from "../../examples/etl.js";
import { registry as etlRegistry } from "../../workers/etl.js";
import { startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const url = inject("natsUrl");

async function runToEnd(client: Client, workflow: string, input: unknown): Promise<RunRecord> {
  const { runId } = await client.start(workflow, input);
  for await (const _event of client.follow(runId)) {
    // until the terminal event
  }
  return client.get(runId);
}

describe("fleet - isolation", () => {
  const processes: PhaseflowProcess[] = [];
  let client: Client;
  let other: { service: CoordinatorService; worker: NatsWorker; client: Client } | undefined;

  beforeAll(async () => {
    processes.push(await startCoordinatorProcess(url, "isoa", ["examples/etl.ts", "examples/review-routing.ts"]));
    processes.push(
      ...(await Promise.all([
        startWorkerProcess(url, "isoa", ["workers/etl.ts"], ["--id", "etl-only"]),
        startWorkerProcess(url, "isoa", ["workers/review.ts"], ["--id", "review-only"]),
      ])),
    );
    client = await createClient({ servers: url, prefix: "isoa" });
    const service = await startCoordinatorService({ nats: { servers: url, prefix: "isob" }, workflows: [etl] });
    const worker = await startNatsWorker({ nats: { servers: url, prefix: "isob" }, registry: etlRegistry, workerId: "b-worker" });
    other = { service, worker, client: await createClient({ servers: url, prefix: "isob" }) };
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    if (other) {
      await other.client.close();
      await other.worker.stop();
      await other.service.close();
    }
    await stopAll(processes);
  }, 60_000);

  it("fleet - a worker serving one namespace never receives another namespace's tasks", async () => {
    const [a, b] = await Promise.all([runToEnd(client, "etl", { day: "2026-11-03", rows: 50, seed: 3 }), runToEnd(client, "review-routing", { itemId: "item-9" })]);
    expect(a.status).toBe("succeeded");
    expect(b.status).toBe("succeeded");
    expect(new Set(a.tasks.map((t) => t.workerId))).toEqual(new Set(["etl-only"]));
    expect(new Set(b.tasks.map((t) => t.workerId))).toEqual(new Set(["review-only"]));
  }, 120_000);

  it("fleet - two prefixes on one server do not see each other's runs", async () => {
    const inB = await runToEnd(other!.client, "etl", { day: "2026-11-04", rows: 20, seed: 4 });
    expect(inB.status).toBe("succeeded");
    expect(new Set(inB.tasks.map((t) => t.workerId))).toEqual(new Set(["b-worker"]));
    const listedInA = await client.list({ limit: 1000 });
    expect(listedInA.map((r) => r.runId)).not.toContain(inB.runId);
    await expect(client.get(inB.runId)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    const listedInB = await other!.client.list({ limit: 1000 });
    expect(listedInB.map((r) => r.runId)).toEqual([inB.runId]);
  }, 120_000);
});
