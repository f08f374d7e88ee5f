// DESIGN §8 "Timeouts" on a fleet: a task's wait in the NATS work queue never counts
// against its timeoutMs (start-to-close), and queueTimeoutMs fails an attempt that did not
// start in time with QUEUE_TIMEOUT, which is retried. One coordinator service and one NATS
// worker with few slots in this process, on a real nats-server, with a backlog several
// times longer than any task's timeout.
import { describe, expect, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import { createRegistry } from "../../src/registry/registry.js";
import { useInProcessFleet } from "../support/in-process-fleet.js";

const PREFIX = "backlog";

/** 6 tasks of `ms` side by side, each with timeoutMs 2 × ms: any backlog deeper than one task's length fails them if the wait counts. */
const wide = workflow("backlog-wide", { version: "1", input: z.object({ ms: z.number().int() }) });
{
  const s = wide.state("s");
  for (let i = 0; i < 6; i++) s.task(`t${i}`, { executor: "backlog/sleep", timeoutMs: 1200 });
}

/** Two tasks that hold the worker's two slots until released. */
const hold = workflow("backlog-hold", { version: "1" });
{
  const s = hold.state("s");
  s.task("block-a", { executor: "backlog/block" });
  s.task("block-b", { executor: "backlog/block" });
}

/** `quick` may wait 1 s for a slot, and has one retry. */
const queued = workflow("backlog-queue", { version: "1" });
queued.state("s").task("quick", { executor: "backlog/quick", queueTimeoutMs: 1000, retries: 1, backoff: { initialMs: 10, maxMs: 10 } });

let releaseBlock: () => void = () => undefined;
const blocked = new Promise<void>((resolve) => (releaseBlock = resolve));
let blocking = 0;
let bothBlocking: () => void = () => undefined;
const slotsTaken = new Promise<void>((resolve) => (bothBlocking = resolve));
const quickRuns: number[] = [];

const registry = createRegistry();
registry.namespace("backlog").register("sleep", (input: { ms: number }, ctx) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => resolve({ ok: true }), input.ms);
  ctx.signal.addEventListener("abort", () => {
    clearTimeout(timer);
    reject(ctx.signal.reason as Error);
  });
}));
registry.namespace("backlog").register("block", async () => {
  if (++blocking === 2) bothBlocking();
  await blocked;
  return { blocked: true };
});
registry.namespace("backlog").register("quick", (_input: unknown, ctx) => {
  quickRuns.push(ctx.attempt);
  return { attempt: ctx.attempt };
});

describe("fleet - a backlog does not count against timeoutMs", () => {
  const fleet = useInProcessFleet({ prefix: PREFIX, workflows: [wide, hold, queued], registry, workerId: "backlog-worker", concurrency: 2, beforeClose: releaseBlock });

  it("fleet - 3 runs of 6 tasks of 600 ms (timeoutMs 1200) on one worker of 2 slots: the last waits seconds in the queue, and every run succeeds with no TASK_TIMEOUT", async () => {
    const runs = await Promise.all([0, 1, 2].map(() => fleet.client.start("backlog-wide", { ms: 600 })));
    const records = await Promise.all(
      runs.map(async ({ runId }) => {
        await fleet.client.waitForEnd(runId);
        return fleet.client.get(runId);
      }),
    );
    for (const record of records) {
      expect(record.status).toBe("succeeded");
      expect(record.tasks.every((t) => t.status === "succeeded" && t.attempts === 1 && t.error === undefined)).toBe(true);
    }
    // There was a backlog: some task started well past its own timeout after its dispatch (18 x 600 ms on 2 slots).
    const starts = records.flatMap((r) => r.tasks.map((t) => t.startedAt ?? 0));
    const dispatchedAt = Math.min(...records.map((r) => r.startedAt ?? Infinity));
    expect(Math.max(...starts) - dispatchedAt).toBeGreaterThan(1200);
  }, 120_000);

  it("fleet - queueTimeoutMs: an attempt still queued after 1 s fails with QUEUE_TIMEOUT and its retry runs once a slot is free", async () => {
    // Both slots busy, so both quicks wait in the queue.
    const holder = await fleet.client.start("backlog-hold", {});
    await slotsTaken;
    const runs = await Promise.all([0, 1].map(() => fleet.client.start("backlog-queue", {})));
    for (const { runId } of runs) {
      for await (const e of fleet.client.follow(runId)) {
        if (e.type === "task.retrying" && e.task === "quick") {
          expect(e.error.code).toBe("QUEUE_TIMEOUT");
          break;
        }
      }
    }
    releaseBlock();
    for (const { runId } of runs) {
      await fleet.client.waitForEnd(runId);
      const record = await fleet.client.get(runId);
      expect(record.status).toBe("succeeded");
      expect(record.tasks.find((t) => t.task === "quick")).toMatchObject({ status: "succeeded", attempts: 2 });
    }
    await fleet.client.waitForEnd(holder.runId);
    expect((await fleet.client.get(holder.runId)).status).toBe("succeeded");
    // No first attempt of a quick ever ran: each was refused as cancelled when a slot came free.
    expect(quickRuns.filter((a) => a === 1)).toEqual([]);
  }, 120_000);
});
