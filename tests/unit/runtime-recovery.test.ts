import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import type { TaskContext } from "../../src/registry/types.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { aborted, gate, waitForEvent } from "../support/runtime-fixtures.js";
import { createCluster, succeededCounts, until, type Cluster } from "./runtime-recovery-support.js";

let c: Cluster;
afterEach(async () => {
  await c.close();
});

/** ingest: a, b -> c; then report: d (final). Output { total: (a + b) * 10 }. */
function etl(options: { timeoutMs?: number; retries?: number; cRetries?: number; extra?: boolean } = {}) {
  const wf = workflow("rec", { version: "1" });
  const ingest = wf.state("ingest");
  const a = ingest.task("a", { executor: "t/a" });
  const b = ingest.task("b", { executor: "t/b", retries: options.retries ?? 0, backoff: { initialMs: 100, maxMs: 100 } });
  ingest.task("c", { executor: "t/c", retries: options.cRetries ?? 0, backoff: { initialMs: 100, maxMs: 100 }, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) }).dependsOn(a, b);
  if (options.extra === true) ingest.task("extra", { executor: "t/a" });
  const report = wf.state("report", { final: true });
  report.task("d", { executor: "t/d" });
  ingest.transition(report);
  return wf;
}

interface Hooks {
  c?: (ctx: TaskContext) => Promise<void>;
  b?: (ctx: TaskContext) => void;
}

function register(cluster: Cluster, hooks: Hooks = {}): void {
  const { calls } = cluster;
  cluster.registry
    .namespace("t")
    .register("a", (_input: unknown, ctx: TaskContext) => {
      calls.push(ctx.task);
      return { a: 1 };
    })
    .register("b", (_input: unknown, ctx: TaskContext) => {
      calls.push(ctx.task);
      hooks.b?.(ctx);
      return { b: 2 };
    })
    .register("c", async (input: unknown, ctx: TaskContext) => {
      calls.push(ctx.task);
      await hooks.c?.(ctx);
      const { a, b } = input as { a: number; b: number };
      return { sum: a + b };
    })
    .register("d", (input: unknown, ctx: TaskContext) => {
      calls.push(ctx.task);
      return { total: (input as { sum: number }).sum * 10 };
    });
}

const types = (events: readonly RunEvent[]) => events.map((e) => e.type);
const count = (events: readonly RunEvent[], type: RunEvent["type"]) => events.filter((e) => e.type === type).length;

/** A finished history to cut: run etl once on its own cluster. */
async function fullHistory(options: { schedule: "phases" | "eager"; retries?: number }): Promise<RunEvent[]> {
  const first = createCluster();
  try {
    register(first, { b: (ctx) => {
      if (options.retries !== undefined && ctx.attempt === 1) throw new Error("flaky");
    } });
    await first.startWorker();
    const run = await first.coordinator().run(etl({ retries: options.retries ?? 0 }), {}, { schedule: options.schedule, runId: "r1" });
    await first.clock.runAll();
    expect((await run.result()).status).toBe("succeeded");
    return await first.history("r1");
  } finally {
    await first.close();
  }
}

describe("runtime - crash recovery (resume from history)", () => {
  for (const schedule of ["phases", "eager"] as const) {
    it(`runtime - a run cut at any event of its history resumes to the same end without re-running settled work (${schedule})`, async () => {
      const full = await fullHistory({ schedule, retries: 1 });
      c = createCluster();
      for (let cut = 1; cut <= full.length; cut++) {
        await c.close();
        c = createCluster();
        register(c, { b: (ctx) => {
          if (ctx.attempt === 1) throw new Error("flaky");
        } });
        await c.startWorker();
        const prefix = full.slice(0, cut);
        for (const e of prefix) c.hub.injectRaw("event", e);
        const run = await c.coordinator().resume(etl({ retries: 1 }), await c.history("r1"));
        await c.clock.runAll();
        const record = await run.result();
        const history = await c.history("r1");
        const where = `cut after event ${cut} (${prefix[cut - 1]!.type})`;
        expect(record.status, where).toBe("succeeded");
        expect(record.output, where).toEqual({ total: 30 });
        expect(history.slice(0, cut), where).toEqual(prefix);
        expect(succeededCounts(history), where).toEqual({ "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 });
        // Nothing already decided is decided again.
        expect(count(history, "run.started"), where).toBe(1);
        expect(count(history, "state.entered"), where).toBe(2);
        expect(count(history, "state.exited"), where).toBe(2);
        expect(count(history, "run.succeeded"), where).toBe(1);
        const dispatched = history.filter((e) => e.type === "task.dispatched").map((e) => e.dispatchId);
        expect(new Set(dispatched).size, where).toBe(dispatched.length);
        // Tasks whose result was in the history (judged or not) did not run again.
        const done = new Set(prefix.flatMap((e) => (e.type === "task.succeeded" || e.type === "attempt.succeeded" ? [e.task] : [])));
        for (const task of done) expect(c.calls, `${where}: ${task} ran again`).not.toContain(task);
        if (cut === full.length) expect(history).toHaveLength(full.length);
      }
    });
  }

  it("runtime - resume: succeeded tasks are not executed again and an in-flight task's result that arrived while no coordinator was up is accepted", async () => {
    c = createCluster();
    const held = gate();
    const started = gate();
    register(c, { c: async () => {
      started.open();
      await held.opened;
    } });
    await c.startWorker();
    const first = c.coordinator();
    const run = await first.run(etl(), {}, { runId: "r1" });
    await started.opened;
    await first.close(); // crash: the first coordinator publishes nothing more
    held.open();
    await until(c.clock, async () => (await c.history("r1")).some((e) => e.type === "attempt.succeeded" && e.task === "c"));
    const before = await c.history("r1");
    expect(before.some((e) => e.type === "task.succeeded" && e.task === "c")).toBe(false);
    await expect(run.result()).rejects.toMatchObject({ code: "ENGINE_CLOSED" });

    const resumed = await c.coordinator().resume(etl(), before);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ total: 30 });
    expect([...c.calls].sort()).toEqual(["a", "b", "c", "d"]);
    const history = await c.history("r1");
    expect(succeededCounts(history)).toEqual({ "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 });
    expect(resumed.status()).toEqual(record);
  });

  it("runtime - resume: events published after the caller read the history are not lost", async () => {
    c = createCluster();
    const held = gate();
    const started = gate();
    register(c, { c: async () => {
      started.open();
      await held.opened;
    } });
    await c.startWorker();
    const first = c.coordinator();
    await first.run(etl(), {}, { runId: "r1" });
    await started.opened;
    await first.close();
    const stale = await c.history("r1");
    held.open();
    await until(c.clock, async () => (await c.history("r1")).some((e) => e.type === "attempt.succeeded" && e.task === "c"));

    const resumed = await c.coordinator().resume(etl(), stale);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls.filter((t) => t === "c")).toHaveLength(1);
    const history = await c.history("r1");
    expect(count(history, "attempt.succeeded")).toBe(4);
    expect(succeededCounts(history)).toEqual({ "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 });
  });

  it("runtime - resume: a task still running on a worker is sent again under its dispatch id (dropped as a duplicate) and its result accepted", async () => {
    c = createCluster();
    const held = gate();
    const started = gate();
    register(c, { c: async () => {
      started.open();
      await held.opened;
    } });
    await c.startWorker();
    const first = c.coordinator();
    await first.run(etl(), {}, { runId: "r1" });
    await started.opened;
    await first.close();
    const resumed = await c.coordinator().resume(etl(), await c.history("r1"));
    await c.clock.flush();
    held.open();
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls.filter((t) => t === "c")).toHaveLength(1);
    const task = record.tasks.find((t) => t.task === "c");
    expect(task).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(task?.redeliveries).toBeUndefined();
    expect(succeededCounts(await c.history("r1"))).toEqual({ "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 });
  });

  it("runtime - resume: an in-flight attempt without a report whose deadline passed while no coordinator was up times out at once and is retried", async () => {
    c = createCluster();
    const started = gate();
    register(c, { c: async (ctx) => {
      if (ctx.attempt > 1) return;
      started.open();
      await aborted(ctx.signal);
      throw new Error("aborted");
    } });
    const worker = await c.startWorker();
    const first = c.coordinator();
    const wf = etl({ timeoutMs: 1000, cRetries: 1 });
    await first.run(wf, {}, { runId: "r1" });
    await started.opened;
    // The coordinator and the worker both die: the attempt is never reported.
    await first.close();
    await worker.stop({ graceful: false });
    await c.clock.advance(5000);
    expect((await c.history("r1")).some((e) => e.type === "attempt.failed")).toBe(false);

    const resumed = await c.coordinator().resume(wf, await c.history("r1"));
    const retrying = await waitForEvent(resumed, "task.retrying", (e) => e.task === "c");
    expect(retrying).toMatchObject({ at: 1_005_000, attempt: 1, nextAttempt: 2, dueAt: 1_005_075 });
    expect(retrying.error.code).toBe("TASK_TIMEOUT");
    await c.startWorker();
    await c.clock.runAll();
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(record.tasks.find((t) => t.task === "c")).toMatchObject({ status: "succeeded", attempts: 2 });
    expect(succeededCounts(await c.history("r1"))).toEqual({ "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 });
  });

  it("runtime - resume: a retrying task gets its next attempt at the recorded due time", async () => {
    c = createCluster();
    register(c, { b: (ctx) => {
      if (ctx.attempt === 1) throw new Error("flaky");
    } });
    await c.startWorker();
    const first = c.coordinator();
    const run = await first.run(etl({ retries: 2 }), {}, { runId: "r1" });
    const retrying = await waitForEvent(run, "task.retrying", (e) => e.task === "b");
    expect(retrying.dueAt).toBe(1_000_075);
    await first.close();
    await c.clock.advance(50);

    const resumed = await c.coordinator().resume(etl({ retries: 2 }), await c.history("r1"));
    await c.clock.advance(24);
    expect((await c.history("r1")).filter((e) => e.type === "task.dispatched" && e.task === "b")).toHaveLength(1);
    await c.clock.advance(1);
    const second = await waitForEvent(resumed, "task.dispatched", (e) => e.task === "b" && e.attempt === 2);
    expect(second.at).toBe(1_000_075);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls.filter((t) => t === "b")).toHaveLength(2);
    expect(succeededCounts(await c.history("r1"))).toEqual({ "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 });
  });

  it("runtime - resume of a finished run reports its record at once and publishes nothing", async () => {
    c = createCluster();
    register(c);
    await c.startWorker();
    const record = await (await c.coordinator().run(etl(), {}, { runId: "r1" })).result();
    const before = await c.history("r1");
    const resumed = await c.coordinator().resume(etl(), before);
    expect(await resumed.result()).toEqual(record);
    await c.clock.flush();
    expect(await c.history("r1")).toEqual(before);
    expect(c.calls).toHaveLength(4);
  });

  it("runtime - resume of a cancelled run stays cancelled; a cancel cut short before run.cancelled is completed", async () => {
    c = createCluster();
    const started = gate();
    register(c, { c: async () => {
      started.open();
      await new Promise(() => undefined);
    } });
    await c.startWorker();
    const run = await c.coordinator().run(etl(), {}, { runId: "r1" });
    await started.opened;
    await run.cancel("stop it");
    const full = await c.history("r1");
    expect(full.at(-1)).toMatchObject({ type: "run.cancelled", reason: "stop it" });

    const again = await c.coordinator().resume(etl(), full);
    expect(await again.result()).toMatchObject({ status: "cancelled", reason: "stop it" });
    await c.clock.flush();
    expect(await c.history("r1")).toEqual(full);

    // The same history without its run.cancelled (the coordinator died publishing it).
    const cut = full.slice(0, -1);
    const other = createCluster();
    try {
      for (const e of cut) other.hub.injectRaw("event", e);
      const resumed = await other.coordinator().resume(etl(), await other.history("r1"));
      expect(await resumed.result()).toMatchObject({ status: "cancelled", reason: "stop it" });
      const history = await other.history("r1");
      expect(history.slice(cut.length).map((e) => e.type)).toEqual(["run.cancelled"]);
    } finally {
      await other.close();
    }
  });

  it("runtime - release stops driving a run silently: result() rejects with RUN_RELEASED and nothing more is published", async () => {
    c = createCluster();
    const held = gate();
    const started = gate();
    register(c, { c: async () => {
      started.open();
      await held.opened;
    } });
    await c.startWorker();
    const engine = c.coordinator();
    const run = await engine.run(etl(), {}, { runId: "r1" });
    await started.opened;
    engine.release("r1");
    await expect(run.result()).rejects.toMatchObject({ code: "RUN_RELEASED" });
    const before = await c.history("r1");
    held.open();
    await c.clock.flush();
    const after = await c.history("r1");
    // Only the worker's report was added; no coordinator decision.
    expect(types(after.slice(before.length))).toEqual(["attempt.succeeded"]);
    expect(engine.get("r1")).toBeUndefined();
    // Another coordinator picks it up from there.
    const record = await (await c.coordinator().resume(etl(), after)).result();
    expect(record.status).toBe("succeeded");
  });

  it("runtime - a resumed run can be cancelled like any other", async () => {
    c = createCluster();
    const started = gate();
    register(c, { c: async (ctx) => {
      started.open();
      await aborted(ctx.signal);
      throw new Error("aborted");
    } });
    await c.startWorker();
    const first = c.coordinator();
    await first.run(etl(), {}, { runId: "r1" });
    await started.opened;
    await first.close();
    const engine = c.coordinator();
    const resumed = await engine.resume(etl(), await c.history("r1"));
    await c.clock.flush();
    await engine.cancel("r1", "enough");
    expect(await resumed.result()).toMatchObject({ status: "cancelled", reason: "enough" });
    expect(resumed.status().tasks.find((t) => t.task === "c")).toMatchObject({ status: "cancelled" });
  });

  it("runtime - resume refuses a history of another plan, and one without run.started", async () => {
    c = createCluster();
    register(c);
    await c.startWorker();
    await (await c.coordinator().run(etl(), {}, { runId: "r1" })).result();
    const events = await c.history("r1");
    const changed = etl({ extra: true });
    const engine = c.coordinator();
    await expect(engine.resume(changed, events)).rejects.toMatchObject({ code: "PLAN_MISMATCH" });
    await expect(engine.resume(etl(), events.slice(1))).rejects.toMatchObject({ code: "USAGE" });
  });
});
