import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import type { TaskContext } from "../../src/registry/types.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import type { RunEvent, StoredMessage } from "../../src/transport/messages.js";
import { aborted, gate, waitForEvent } from "../support/runtime-fixtures.js";
import { historyEvents as historyOf } from "../../src/runtime/core/history.js";
import { count, createCluster, succeededCounts, until, type Cluster } from "./runtime-recovery-support.js";

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

const ALL_ONCE = { "ingest/1/a": 1, "ingest/1/b": 1, "ingest/1/c": 1, "report/1/d": 1 };

/** Resolves once an event matching `pred` is stored in the run's history (not just decided). */
async function stored(cluster: Cluster, pred: (e: RunEvent) => boolean): Promise<void> {
  await until(cluster.clock, async () => (await cluster.events("r1")).some(pred));
}

/** A finished history to cut: run etl once on its own cluster. */
async function fullHistory(options: { schedule: "phases" | "eager"; retries?: number }): Promise<StoredMessage[]> {
  const first = createCluster();
  try {
    register(first, { b: (ctx) => {
      if (options.retries !== undefined && ctx.attempt === 1) throw new Error("flaky");
    } });
    await first.startWorker();
    const run = await first.coordinator().run(etl({ retries: options.retries ?? 0 }), {}, { schedule: options.schedule, runId: "r1" });
    let done = false;
    void run.result().then(() => (done = true));
    await first.drive("r1", () => done);
    expect((await run.result()).status).toBe("succeeded");
    return await first.history("r1");
  } finally {
    await first.close();
  }
}

describe("runtime - crash recovery (resume from history)", () => {
  for (const schedule of ["phases", "eager"] as const) {
    it(`runtime - a run cut after any stored message, resumed on a fresh hub, ends the same without re-running stored successes (${schedule})`, async () => {
      const full = await fullHistory({ schedule, retries: 1 });
      c = createCluster();
      for (let cut = 1; cut <= full.length; cut++) {
        await c.close();
        c = createCluster();
        register(c, { b: (ctx) => {
          if (ctx.attempt === 1) throw new Error("flaky");
        } });
        const prefix = full.slice(0, cut);
        await c.seed(prefix);
        await c.startWorker();
        const run = await c.coordinator().resume(etl({ retries: 1 }), await c.history("r1"));
        let done = false;
        void run.result().then(() => (done = true));
        await c.drive("r1", () => done);
        const record = await run.result();
        const history = await c.history("r1");
        const events = await c.events("r1");
        const where = `cut after stored message ${cut} of ${full.length} (${prefix[cut - 1]!.message.kind})`;
        expect(record.status, where).toBe("succeeded");
        expect(record.output, where).toEqual({ total: 30 });
        expect(history.slice(0, cut), where).toEqual(prefix);
        expect(recordOfHistory(history), where).toEqual(record);
        expect(succeededCounts(events), where).toEqual(ALL_ONCE);
        // Nothing already decided is decided again.
        expect(count(events, "run.started"), where).toBe(1);
        expect(count(events, "state.entered"), where).toBe(2);
        expect(count(events, "state.exited"), where).toBe(2);
        expect(count(events, "run.succeeded"), where).toBe(1);
        const dispatched = events.filter((e) => e.type === "task.dispatched").map((e) => e.dispatchId);
        expect(new Set(dispatched).size, where).toBe(dispatched.length);
        // Tasks whose success the cut history holds did not run again.
        const held = succeededCounts(historyOf(prefix));
        for (const key of Object.keys(held)) expect(c.calls, `${where}: ${key} ran again`).not.toContain(key.split("/")[2]);
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
    await stored(c, (e) => e.type === "task.dispatched" && e.task === "c");
    await first.close(); // crash: the first coordinator publishes nothing more
    held.open();
    await stored(c, (e) => e.type === "attempt.succeeded" && e.task === "c");
    const before = await c.history("r1");
    expect(before.at(-1)?.message).toMatchObject({ kind: "report", type: "attempt.succeeded", task: "c" });
    await expect(run.result()).rejects.toMatchObject({ code: "ENGINE_CLOSED" });

    const resumed = await c.coordinator().resume(etl(), before);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ total: 30 });
    expect([...c.calls].sort()).toEqual(["a", "b", "c", "d"]);
    expect(succeededCounts(await c.events("r1"))).toEqual(ALL_ONCE);
    expect(resumed.status()).toEqual(record);
  });

  it("runtime - resume: reports stored after the caller read the history are not lost", async () => {
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
    await stored(c, (e) => e.type === "task.dispatched" && e.task === "c");
    await first.close();
    const stale = await c.history("r1");
    held.open();
    await stored(c, (e) => e.type === "attempt.succeeded" && e.task === "c");

    const resumed = await c.coordinator().resume(etl(), stale);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls.filter((t) => t === "c")).toHaveLength(1);
    const events = await c.events("r1");
    expect(count(events, "attempt.succeeded")).toBe(4);
    expect(succeededCounts(events)).toEqual(ALL_ONCE);
  });

  it("runtime - resume: a task still running on a worker is not dispatched again, and its report is accepted by the new holder", async () => {
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
    await stored(c, (e) => e.type === "task.dispatched" && e.task === "c");
    await first.close();
    const resumed = await c.coordinator().resume(etl(), await c.history("r1"));
    await c.clock.flush();
    expect(c.hub.stats().queued).toBe(0);
    held.open();
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls.filter((t) => t === "c")).toHaveLength(1);
    const task = record.tasks.find((t) => t.task === "c");
    expect(task).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(count(await c.events("r1"), "task.dispatched")).toBe(4);
    expect(succeededCounts(await c.events("r1"))).toEqual(ALL_ONCE);
  });

  it("runtime - resume: an in-flight attempt whose coordinator and worker both died is re-dispatched by the watchdog (its start is not history), not timed out from its dispatch", async () => {
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
    await stored(c, (e) => e.type === "task.dispatched" && e.task === "c");
    // The coordinator and the worker both die: the attempt is never reported (its delivery goes back to the queue).
    await first.close();
    await worker.stop({ graceful: false });
    await c.clock.advance(5000);
    expect((await c.events("r1")).some((e) => e.type === "attempt.failed")).toBe(false);

    // The new holder knows no start: nothing is timed out on resume; the watchdog takes the silent attempt for lost.
    const resumed = await c.coordinator({ watchdogMs: 2000 }).resume(wf, await c.history("r1"));
    await c.clock.advance(0);
    expect((await c.events("r1")).some((e) => e.type === "task.retrying")).toBe(false);
    await c.clock.advance(2000);
    const retrying = await waitForEvent(resumed, "task.retrying", (e) => e.task === "c");
    expect(retrying).toMatchObject({ at: 1_007_000, attempt: 1, nextAttempt: 2 });
    expect(retrying.error.code).toBe("ATTEMPT_LOST");
    await c.startWorker();
    let done = false;
    void resumed.result().then(() => (done = true));
    await c.drive("r1", () => done);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(record.tasks.find((t) => t.task === "c")).toMatchObject({ status: "succeeded" });
    expect(succeededCounts(await c.events("r1"))).toEqual(ALL_ONCE);
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
    await stored(c, (e) => e.type === "task.retrying");
    await first.close();
    await c.clock.advance(50);

    const resumed = await c.coordinator().resume(etl({ retries: 2 }), await c.history("r1"));
    await c.clock.advance(24);
    expect((await c.events("r1")).filter((e) => e.type === "task.dispatched" && e.task === "b")).toHaveLength(1);
    await c.clock.advance(1);
    const second = await waitForEvent(resumed, "task.dispatched", (e) => e.task === "b" && e.attempt === 2);
    expect(second.at).toBe(1_000_075);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls.filter((t) => t === "b")).toHaveLength(2);
    expect(succeededCounts(await c.events("r1"))).toEqual(ALL_ONCE);
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

  it("runtime - resume of a cancelled run stays cancelled and stores nothing", async () => {
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
    const last = full.at(-1)!.message;
    // task.cancelled and run.cancelled are one decision: a cancel is stored whole or not at all.
    expect(last.kind === "decision" && last.events.map((e) => e.type)).toEqual(["task.cancelled", "run.cancelled"]);

    const again = await c.coordinator().resume(etl(), full);
    expect(await again.result()).toMatchObject({ status: "cancelled", reason: "stop it" });
    await c.clock.flush();
    expect(await c.history("r1")).toEqual(full);
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
    await stored(c, (e) => e.type === "task.dispatched" && e.task === "c");
    engine.release("r1");
    await expect(run.result()).rejects.toMatchObject({ code: "RUN_RELEASED" });
    const before = await c.history("r1");
    held.open();
    await c.clock.flush();
    const after = await c.history("r1");
    // Only the worker's report was added; no coordinator decision.
    expect(after.slice(before.length).map((m) => m.message.kind)).toEqual(["report"]);
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
    await stored(c, (e) => e.type === "task.dispatched" && e.task === "c");
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
