// README "Traffic control" on a fleet: priority orders the tasks already waiting in the NATS
// work queue. One coordinator service and one NATS worker of one slot in this process, on a
// real nats-server: a run holds the slot while priority-5 runs, then priority-1 runs, queue up
// behind it; once the slot frees, the priority-1 tasks run first, FIFO within each priority.
import { describe, expect, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import { createRegistry } from "../../src/registry/registry.js";
import { useInProcessFleet } from "../support/in-process-fleet.js";

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
  const fleet = useInProcessFleet({ prefix: PREFIX, workflows: [hold, job], registry, workerId: "fprio-worker", concurrency: 1, beforeClose: releaseBlock });

  /** Start a run of `job` and wait until its task message is in the work queue. */
  async function queued(name: string, priority: number): Promise<string> {
    const { runId } = await fleet.client.start("prio-job", { name }, { priority });
    for await (const e of fleet.client.follow(runId)) if (e.type === "task.dispatched") break;
    return runId;
  }

  it("fleet - priority-1 runs queued after priority-5 runs start first, FIFO within a priority", async () => {
    const holder = await fleet.client.start("prio-hold", {});
    await holding;
    const runs: string[] = [];
    for (const name of ["low-1", "low-2", "low-3", "low-4"]) runs.push(await queued(name, 5));
    for (const name of ["high-1", "high-2"]) runs.push(await queued(name, 1));
    runs.push(await queued("mid-1", 3));
    releaseBlock();
    for (const runId of [holder.runId, ...runs]) {
      await fleet.client.waitForEnd(runId);
      expect((await fleet.client.get(runId)).status).toBe("succeeded");
    }
    expect(order).toEqual(["high-1", "high-2", "mid-1", "low-1", "low-2", "low-3", "low-4"]);
  }, 120_000);
});
