// A retry on a fleet, as a client program writes it: `await client.retry(runId)` and then
// `await client.waitForEnd(runId)`. The retry is answered once its `run.retried` is
// stored, and waitForEnd reads every decision stored before it was called, so it gives the
// retry's end, never the failure the retry replaced. One coordinator service and one NATS
// worker in this process, on a real nats-server.
import { describe, expect, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import { NonRetryableError } from "../../src/errors/base.js";
import { createRegistry } from "../../src/registry/registry.js";
import { useInProcessFleet } from "../support/in-process-fleet.js";

const flaky = workflow("retry-end", { version: "1", input: z.object({ n: z.number() }) });
{
  const s = flaky.state("s");
  const prep = s.task("prep", { executor: "retryend/prep" });
  s.task("once", { executor: "retryend/once" }).dependsOn(prep);
}

/** Calls of `once` per run: the first fails for good, later ones succeed. */
const calls = new Map<string, number>();
const registry = createRegistry();
registry.namespace("retryend").register("prep", (input: { n: number }) => ({ n: input.n }));
registry.namespace("retryend").register("once", (_input: unknown, ctx) => {
  const n = (calls.get(ctx.runId) ?? 0) + 1;
  calls.set(ctx.runId, n);
  if (n === 1) throw new NonRetryableError(`first call of run ${ctx.runId} fails`);
  return { call: n };
});

describe("fleet - waiting for a retried run's end", () => {
  const fleet = useInProcessFleet({ prefix: "fretryend", workflows: [flaky], registry, workerId: "retryend-worker", concurrency: 2 });

  it("fleet - after client.retry, waitForEnd gives the retry's end, not the failure it replaced", async () => {
    const { runId } = await fleet.client.start("retry-end", { n: 1 });
    expect(await fleet.client.waitForEnd(runId)).toMatchObject({ status: "failed", error: { code: "TASK_FAILED" } });

    await fleet.client.retry(runId);
    // The retry is stored when it is answered: the history no longer ends in the failure.
    expect(["running", "succeeded"]).toContain((await fleet.client.get(runId)).status);
    const end = await fleet.client.waitForEnd(runId);
    expect(end).toMatchObject({ status: "succeeded", output: { call: 2 } });
    expect(calls.get(runId)).toBe(2);
  });
});
