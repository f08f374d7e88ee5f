// README "Traffic control" on a fleet: priority orders the tasks already waiting in the NATS
// work queue. One coordinator service and one NATS worker of one slot in this process, on a
// real nats-server: a run holds the slot while priority-5 runs, then priority-1 runs, queue up
// behind it; once the slot frees, the priority-1 tasks run first, FIFO within each priority.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";

const url = inject("natsUrl");
const PREFIX = "fprio";

const hold = workflow("prio-hold", { version: "1" });
hold.state("s").task("block", { executor: "fprio/block" });

const job = workflow("prio-job", { version: "1", input: z.object({ name: z.string() }) });
job.state("s").task("record", { executor: "fprio/record" });

let releaseBlock: () => void = () => undefined;
const blocked = new Promise<void>((resolve) => (releaseBlock = resolve));
let slotTaken: () => void = () => undefined;
const holding = new Promise<void>((resolve) => (slotTaken = resolve));
const order: string[] = [];

const registry = createRegistry();
registry.namespace("fprio").register("block", async () => {
  slotTaken();
  await blocked;
  return {};
});
registry.namespace("fprio").register("record", (input: { name: string }) => {
  order.push(input.name);
  return {};
});

describe("fleet - priority in the work queue", () => {
  let service: CoordinatorService;
  let worker: NatsWorker;
  let client: Client;

  beforeAll(async () => {
    service = await startCoordinatorService({ nats: { servers: url, prefix: PREFIX }, workflows: [hold, job] });
    worker = await startNatsWorker({ nats: { servers: url, prefix: PREFIX }, registry, workerId: "fprio-worker", concurrency: 1 });
    client = await createClient({ servers: url, prefix: PREFIX });
  }, 60_000);

  afterAll(async () => {
    releaseBlock();
    await client?.close();
    await worker?.stop({ graceful: false });
    await service?.close();
  }, 60_000);

  /** Start a run of `job` and wait until its task message is in the work queue. */
  async function queued(name: string, priority: number): Promise<string> {
    const { runId } = await client.start("prio-job", { name }, { priority });
    for await (const e of client.follow(runId)) if (e.type === "task.dispatched") break;
    return runId;
  }

  it("fleet - priority-1 runs queued after priority-5 runs start first, FIFO within a priority", async () => {
    const holder = await client.start("prio-hold", {});
    await holding;
    const runs: string[] = [];
    for (const name of ["low-1", "low-2", "low-3", "low-4"]) runs.push(await queued(name, 5));
    for (const name of ["high-1", "high-2"]) runs.push(await queued(name, 1));
    runs.push(await queued("mid-1", 3));
    releaseBlock();
    for (const runId of [holder.runId, ...runs]) {
      await client.waitForEnd(runId);
      expect((await client.get(runId)).status).toBe("succeeded");
    }
    expect(order).toEqual(["high-1", "high-2", "mid-1", "low-1", "low-2", "low-3", "low-4"]);
  }, 120_000);
});
