import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import { createFakeClock, type FakeClock } from "../support/fake-clock.js";
import { aborted, allEvents, gate, testEngine, waitForEvent, type TestEngine } from "../support/runtime-fixtures.js";

let t: TestEngine;
let clock: FakeClock;
afterEach(async () => {
  await t.close();
});

function oneTask(options: { retries?: number; timeoutMs?: number; backoff?: { initialMs: number; maxMs: number; factor?: number }; output?: z.ZodType }) {
  const wf = workflow("one", { version: "1" });
  wf.state("s").task("job", { executor: "t/job", ...options });
  return wf;
}

function setup(job: (input: unknown, ctx: TaskContext) => unknown) {
  clock = createFakeClock(1_000_000);
  t = testEngine({ clock, random: () => 0.5 });
  t.registry.namespace("t").register("job", job);
}

describe("runtime - retries and timeouts", () => {
  it("runtime - retries with exponential backoff and equal jitter at the computed times", async () => {
    const attempts: number[] = [];
    setup((_input, ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`);
      return { ok: true };
    });
    const run = await t.engine.run(oneTask({ retries: 3, backoff: { initialMs: 1000, maxMs: 30_000, factor: 2 } }), {});

    const first = await waitForEvent(run, "task.retrying", (e) => e.attempt === 1);
    // base = 1000 * 2^0 = 1000; delay = 500 + 0.5 * 500 = 750
    expect(first.at).toBe(1_000_000);
    expect(first.dueAt).toBe(1_000_750);
    expect(first.error.message).toBe("flaky 1");
    await clock.advance(750);
    const second = await waitForEvent(run, "task.retrying", (e) => e.attempt === 2);
    // base = 1000 * 2^1 = 2000; delay = 1000 + 0.5 * 1000 = 1500
    expect(second.dueAt).toBe(1_000_750 + 1500);
    await clock.advance(1500);

    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(attempts).toEqual([1, 2, 3]);
    const dispatched = (await allEvents(run)).filter((e) => e.type === "task.dispatched");
    expect(dispatched.map((e) => [e.attempt, e.at])).toEqual([
      [1, 1_000_000],
      [2, 1_000_750],
      [3, 1_002_250],
    ]);
    const ids = dispatched.map((e) => e.dispatchId);
    expect(new Set(ids).size).toBe(3);
    expect(record.tasks[0]).toMatchObject({ status: "succeeded", attempts: 3, output: { ok: true } });
  });

  it("runtime - a task whose attempts are used up fails the run naming the task, its attempts and last error", async () => {
    setup(() => {
      throw new Error("always");
    });
    const run = await t.engine.run(oneTask({ retries: 1, backoff: { initialMs: 10, maxMs: 10 } }), {});
    await waitForEvent(run, "task.retrying");
    await clock.advance(10);
    const record = await run.result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("TASK_FAILED");
    expect(record.error?.message).toContain('task "s/job" failed after 2 attempts');
    expect(record.error?.message).toContain("always");
    expect(record.tasks[0]).toMatchObject({ status: "failed", attempts: 2 });
  });

  it("runtime - a timed-out attempt is cancelled and retried, and the retry succeeds", async () => {
    const signals: AbortSignal[] = [];
    const keys: string[] = [];
    const started = gate();
    setup(async (_input, ctx) => {
      signals.push(ctx.signal);
      keys.push(ctx.idempotencyKey);
      if (ctx.attempt === 1) {
        started.open();
        await aborted(ctx.signal);
        throw new Error("gave up");
      }
      return { attempt: ctx.attempt };
    });
    const run = await t.engine.run(oneTask({ retries: 1, timeoutMs: 1000, backoff: { initialMs: 100, maxMs: 100 } }), {});
    const dispatched = await waitForEvent(run, "task.dispatched");
    // The timeout runs from the attempt's start on the worker, not from its dispatch (DESIGN §8).
    expect(dispatched.deadline).toBeNull();
    await started.opened;
    await clock.advance(1000);
    const retrying = await waitForEvent(run, "task.retrying");
    expect(retrying.error.code).toBe("TASK_TIMEOUT");
    expect(retrying.dueAt).toBe(1_001_075);
    expect(signals[0]!.aborted).toBe(true);
    await clock.advance(75);
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ attempt: 2 });
    expect(record.tasks[0]).toMatchObject({ attempts: 2, status: "succeeded" });
    // The same idempotency key across attempts.
    expect(keys[0]).toBe(keys[1]);
  });

  it("runtime - an executor that never resolves is timed out and fails the task", async () => {
    const started = gate();
    setup(() => {
      started.open();
      return new Promise(() => undefined);
    });
    const run = await t.engine.run(oneTask({ timeoutMs: 500 }), {});
    await started.opened;
    // The worker fires the signal at 500 ms of execution, then gives the executor its abort grace (1000 ms) before it reports.
    await clock.advance(500);
    await clock.advance(1000);
    const record = await run.result();
    expect(record.status).toBe("failed");
    expect(record.tasks[0]).toMatchObject({ status: "failed", attempts: 1 });
    expect(record.tasks[0]!.error?.code).toBe("TASK_TIMEOUT");
    expect(record.finishedAt).toBe(1_001_500);
  });

  it("runtime - NonRetryableError fails the task at once (attempts 1)", async () => {
    let calls = 0;
    setup(() => {
      calls += 1;
      throw new NonRetryableError("bad request");
    });
    const record = await (await t.engine.run(oneTask({ retries: 5 }), {})).result();
    expect(calls).toBe(1);
    expect(record.status).toBe("failed");
    expect(record.tasks[0]).toMatchObject({ status: "failed", attempts: 1 });
    expect(record.tasks[0]!.error?.code).toBe("NON_RETRYABLE");
    expect(clock.pending()).toBe(0);
  });

  it("runtime - an output that violates the task's schema fails the task without retry", async () => {
    let calls = 0;
    setup(() => {
      calls += 1;
      return { n: "not a number" };
    });
    const record = await (await t.engine.run(oneTask({ retries: 3, output: z.object({ n: z.number() }) }), {})).result();
    expect(calls).toBe(1);
    expect(record.status).toBe("failed");
    expect(record.tasks[0]).toMatchObject({ status: "failed", attempts: 1 });
    expect(record.tasks[0]!.error?.code).toBe("OUTPUT_INVALID");
    expect(record.tasks[0]!.error?.message).toContain("n");
  });
});
