import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { FencedError, NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { recordOfHistory, reduceRunEvents } from "../../src/runtime/core/run-record.js";
import { tokenHashOf } from "../../src/runtime/core/run-state.js";
import type { RunHandle } from "../../src/runtime/shell/run-handle.js";
import { gate, settle } from "../support/runtime-fixtures.js";
import { createCluster, succeededCounts, succeededSinceLastRetry, until, type Cluster } from "./runtime-recovery-support.js";

let c: Cluster;
afterEach(async () => {
  await c.close();
});

/** Executors that record each call and fail (NonRetryableError) on the calls listed in `failOn` (`task#n`: its n-th call). */
function register(cluster: Cluster, failOn: readonly string[]): void {
  const seen = new Map<string, number>();
  const run = (_input: unknown, ctx: TaskContext) => {
    const n = (seen.get(ctx.task) ?? 0) + 1;
    seen.set(ctx.task, n);
    cluster.calls.push(ctx.task);
    if (failOn.includes(`${ctx.task}#${n}`)) throw new NonRetryableError(`${ctx.task} broke`);
    return { [ctx.task]: n };
  };
  const ns = cluster.registry.namespace("t");
  for (const name of ["a", "b", "c", "d", "e"]) ns.register(name, run);
}

/** s: a -> b -> c, and d on its own. */
function oneState(onFailure: "fail-fast" | "continue" = "fail-fast") {
  const wf = workflow("retry1", { version: "1" });
  const s = wf.state("s");
  const a = s.task("a", { executor: "t/a" });
  const b = s.task("b", { executor: "t/b" }).dependsOn(a);
  s.task("c", { executor: "t/c" }).dependsOn(b);
  s.task("d", { executor: "t/d" });
  return { wf, options: { onFailure, runId: "r1" } as const };
}

/** ingest: a -> b; report (final, entered at most once): c -> e. */
function twoStates() {
  const wf = workflow("retry2", { version: "1" });
  const ingest = wf.state("ingest");
  const a = ingest.task("a", { executor: "t/a" });
  ingest.task("b", { executor: "t/b" }).dependsOn(a);
  const report = wf.state("report", { final: true, maxVisits: 1 });
  report.task("e", { executor: "t/e" }).dependsOn(report.task("c", { executor: "t/c" }));
  ingest.transition(report);
  return wf;
}

const retried = (events: readonly RunEvent[]) => events.filter((e) => e.type === "run.retried");

/** The run's record once it ended, moving the fake clock as needed (retry backoff, watchdog). */
async function finish(cluster: Cluster, run: RunHandle) {
  let done = false;
  void run.result().then(
    () => (done = true),
    () => (done = true),
  );
  await cluster.drive(run.runId, () => done);
  return run.result();
}

describe("runtime - partial re-run (retry)", () => {
  for (const onFailure of ["fail-fast", "continue"] as const) {
    it(`runtime - retry re-runs only the failed task and its downstream, in the same run and history (${onFailure})`, async () => {
      c = createCluster();
      register(c, ["b#1"]);
      await c.startWorker();
      const { wf, options } = oneState(onFailure);
      const failed = await (await c.coordinator().run(wf, {}, options)).result();
      expect(failed.status).toBe("failed");
      expect(failed.error?.code).toBe("TASK_FAILED");
      c.calls.length = 0;

      const run = await c.coordinator().retry(wf, await c.history("r1"));
      expect(run.runId).toBe("r1");
      const record = await run.result();
      expect(record.status).toBe("succeeded");
      expect(record.error).toBeUndefined();
      expect(c.calls).toEqual(["b", "c"]);
      expect(record.output).toEqual({ c: 1, d: 1 });
      expect(record.tasks.map((t) => [t.task, t.status, t.attempts])).toEqual([
        ["a", "succeeded", 1],
        ["d", "succeeded", 1],
        ["b", "succeeded", 2],
        ["c", "succeeded", 1],
      ]);
      const history = await c.events("r1");
      expect(retried(history)).toEqual([expect.objectContaining({ state: "s", visit: 1, tasks: ["b", "c"] })]);
      expect(history.filter((e) => e.type === "run.started")).toHaveLength(1);
      expect(recordOfHistory(await c.history("r1"))).toEqual(record);
      // New attempt numbers: no dispatch id is used twice.
      const ids = history.flatMap((e) => (e.type === "task.dispatched" ? [e.dispatchId] : []));
      expect(new Set(ids).size).toBe(ids.length);
      expect(succeededCounts(history)).toEqual({ "s/1/a": 1, "s/1/b": 1, "s/1/c": 1, "s/1/d": 1 });
    });
  }

  it("runtime - retry from a task of an earlier state re-runs exactly that task, its downstream and the later states", async () => {
    c = createCluster();
    register(c, ["c#1"]);
    await c.startWorker();
    const wf = twoStates();
    expect((await (await c.coordinator().run(wf, {}, { runId: "r1" })).result()).status).toBe("failed");
    c.calls.length = 0;

    const run = await c.coordinator().retry(wf, await c.history("r1"), { state: "ingest", task: "b" });
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(c.calls).toEqual(["b", "c", "e"]);
    expect(record.output).toEqual({ e: 1 });
    expect(record.states.map((s) => [s.name, s.visit, s.status])).toEqual([
      ["ingest", 1, "succeeded"],
      ["report", 1, "failed"],
      ["report", 2, "succeeded"],
    ]);
    const history = await c.events("r1");
    expect(retried(history)).toEqual([expect.objectContaining({ state: "ingest", visit: 1, tasks: ["b"] })]);
    // After the re-run started, one success per task per visit.
    expect(succeededSinceLastRetry(history)).toEqual({ "ingest/1/b": 1, "report/2/c": 1, "report/2/e": 1 });
    expect(record.tasks.find((t) => t.state === "ingest" && t.task === "b")).toMatchObject({ attempts: 2, output: { b: 2 } });
  });

  it("runtime - retry from a task of the failed state re-runs it, its downstream and the failed tasks, keeping the rest", async () => {
    c = createCluster();
    register(c, ["c#1"]);
    await c.startWorker();
    const { wf, options } = oneState();
    await (await c.coordinator().run(wf, {}, options)).result();
    c.calls.length = 0;
    const record = await (await c.coordinator().retry(wf, await c.history("r1"), { state: "s", task: "b" })).result();
    expect(record.status).toBe("succeeded");
    expect(c.calls).toEqual(["b", "c"]);
    expect(retried(await c.events("r1"))[0]).toMatchObject({ tasks: ["b", "c"], reason: 're-run from task "s/b"' });
  });

  it("runtime - a run can be retried again after its retry failed, and a retry cut short resumes", async () => {
    c = createCluster();
    register(c, ["b#1", "b#2"]);
    await c.startWorker();
    const { wf, options } = oneState();
    await (await c.coordinator().run(wf, {}, options)).result();
    const second = await (await c.coordinator().retry(wf, await c.history("r1"))).result();
    expect(second.status).toBe("failed");
    expect(second.tasks.find((t) => t.task === "b")).toMatchObject({ status: "failed", attempts: 2 });

    // The third try: its coordinator dies right after storing the decision with run.retried
    // (claim, re-run, dispatch of b: one batch); another resumes it on a fresh hub.
    const full = await c.history("r1");
    const third = await c.coordinator().retry(wf, full);
    await until(c.clock, async () => (await c.history("r1")).length > full.length);
    const cut = (await c.history("r1")).slice(0, full.length + 1);
    const decision = cut.at(-1)!.message;
    expect(decision.kind === "decision" && decision.events.map((e) => e.type)).toEqual(["run.claimed", "run.retried", "task.dispatched"]);
    const other = createCluster();
    try {
      register(other, []);
      await other.seed(cut);
      await other.startWorker();
      const record = await finish(other, await other.coordinator().resume(wf, await other.history("r1")));
      expect(record.status).toBe("succeeded");
      expect(other.calls).toEqual(["b", "c"]);
      // Attempt 3 went with the lost hub's queue: the watchdog re-dispatched it as attempt 4 (not counted as a try).
      const events = await other.events("r1");
      expect(events.filter((e) => e.type === "task.retrying").at(-1)).toMatchObject({ task: "b", attempt: 3, nextAttempt: 4, error: { code: "ATTEMPT_LOST" } });
      expect(record.tasks.find((t) => t.task === "b")).toMatchObject({ status: "succeeded", attempts: 4 });
      expect(succeededSinceLastRetry(events)).toEqual({ "s/1/b": 1, "s/1/c": 1 });
    } finally {
      await other.close();
    }
    expect((await third.result()).status).toBe("succeeded");
  });

  it("runtime - the coordinator that ran a run can pick it up after another coordinator retried it", async () => {
    c = createCluster();
    register(c, ["b#1"]);
    await c.startWorker();
    const { wf, options } = oneState();
    const x = c.coordinator();
    const original = await x.run(wf, {}, options);
    expect((await original.result()).status).toBe("failed");
    const afterRetry = await (await c.coordinator().retry(wf, await c.history("r1"))).result();
    expect(afterRetry.status).toBe("succeeded");
    // x does not follow a run it no longer drives: it keeps the record as the run ended here ...
    await c.clock.flush();
    expect(x.get("r1")?.status).toBe("failed");
    // ... until it picks the run up from its history.
    const again = await x.resume(wf, await c.history("r1"));
    expect(await again.result()).toEqual(afterRetry);
    expect(x.get("r1")?.status).toBe("succeeded");
  });

  it("runtime - a re-run task gets its retries again, its attempt numbers counting on", async () => {
    c = createCluster();
    let calls = 0;
    c.registry.namespace("t").register("flaky", () => {
      calls += 1;
      if (calls < 4) throw new Error(`flaky ${calls}`);
      return { calls };
    });
    await c.startWorker();
    const wf = workflow("retry3", { version: "1" });
    wf.state("s").task("flaky", { executor: "t/flaky", retries: 1, backoff: { initialMs: 10, maxMs: 10 } });
    const first = await c.coordinator().run(wf, {}, { runId: "r1" });
    expect((await finish(c, first)).tasks[0]).toMatchObject({ status: "failed", attempts: 2 });

    const run = await c.coordinator().retry(wf, await c.history("r1"));
    const record = await finish(c, run);
    expect(record.status).toBe("succeeded");
    expect(record.tasks[0]).toMatchObject({ status: "succeeded", attempts: 4, output: { calls: 4 } });
    const history = await c.events("r1");
    expect(history.flatMap((e) => (e.type === "task.dispatched" ? [e.attempt] : []))).toEqual([1, 2, 3, 4]);
    expect(history.flatMap((e) => (e.type === "task.retrying" ? [[e.attempt, e.nextAttempt]] : []))).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it("run record - run.retried makes the run, the state visit and the re-run tasks live again, keeping attempt counts", () => {
    const at = 5;
    const events: RunEvent[] = [
      { runId: "r1", at, type: "run.started", workflow: "w", version: "1", planHash: "h", input: {}, options: { schedule: "phases", onFailure: "fail-fast" } },
      { runId: "r1", at, type: "state.entered", state: "s", visit: 1, input: {} },
      { runId: "r1", at, type: "task.dispatched", state: "s", visit: 1, task: "a", attempt: 1, dispatchId: "r1/s/1/a/1", executor: "t/a", deadline: null, tokenHash: tokenHashOf("token-a-1"), judged: true },
      { runId: "r1", at, type: "task.succeeded", state: "s", visit: 1, task: "a", attempt: 1, dispatchId: "r1/s/1/a/1", output: { a: 1 } },
      { runId: "r1", at, type: "task.dispatched", state: "s", visit: 1, task: "b", attempt: 1, dispatchId: "r1/s/1/b/1", executor: "t/b", deadline: null, tokenHash: tokenHashOf("token-b-1"), judged: false },
      { runId: "r1", at, type: "task.failed", state: "s", visit: 1, task: "b", attempt: 1, error: { name: "E", code: "X", message: "no", retryable: false } },
      { runId: "r1", at, type: "run.failed", error: { name: "E", code: "TASK_FAILED", message: "no", retryable: false } },
      { runId: "r1", at: 9, type: "run.retried", state: "s", visit: 1, tasks: ["b"], reason: "again" },
    ];
    const record = reduceRunEvents(events);
    expect(record).toMatchObject({ status: "running", currentState: "s" });
    expect(record.error).toBeUndefined();
    expect(record.finishedAt).toBeUndefined();
    expect(record.states).toEqual([{ name: "s", visit: 1, status: "running", enteredAt: 5, input: {} }]);
    expect(record.tasks.map((t) => [t.task, t.status, t.attempts, t.error?.code])).toEqual([
      ["a", "succeeded", 1, undefined],
      ["b", "pending", 1, undefined],
    ]);
  });

  it("runtime - retry of a run that did not fail is a UsageError naming its status", async () => {
    c = createCluster();
    register(c, []);
    await c.startWorker();
    const { wf, options } = oneState();
    await (await c.coordinator().run(wf, {}, options)).result();
    const engine = c.coordinator();
    const events = await c.history("r1");
    await expect(engine.retry(wf, events)).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("is succeeded") as unknown });
    await expect(engine.retry(wf, events.slice(0, 1))).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("is running") as unknown });
    expect(await c.history("r1")).toEqual(events);
  });

  it("runtime - retry with a from that names no entered state or no task of it is a UsageError listing the choices", async () => {
    c = createCluster();
    register(c, ["b#1"]);
    await c.startWorker();
    const wf = twoStates();
    await (await c.coordinator().run(wf, {}, { runId: "r1" })).result();
    const engine = c.coordinator();
    const events = await c.history("r1");
    await expect(engine.retry(wf, events, { state: "report", task: "c" })).rejects.toMatchObject({
      code: "USAGE",
      message: expect.stringContaining('never entered it; choose one of "ingest"') as unknown,
    });
    await expect(engine.retry(wf, events, { state: "ingest", task: "zz" })).rejects.toMatchObject({
      code: "USAGE",
      message: expect.stringContaining('choose one of "a", "b"') as unknown,
    });
    expect(await c.history("r1")).toEqual(events);
  });

  it("runtime - retry resolves only once its run.retried is stored, so an answered retry cannot be lost to a crash", async () => {
    c = createCluster();
    register(c, ["b#1"]);
    await c.startWorker();
    const { wf, options } = oneState();
    expect((await (await c.coordinator().run(wf, {}, options)).result()).status).toBe("failed");
    // The retrying coordinator's decisions wait until the test lets them be stored.
    const transport = c.hub.connect();
    const storing = gate();
    const append = transport.appendDecision.bind(transport);
    transport.appendDecision = async (decision, expectedLastSeq) => {
      await storing.opened;
      return append(decision, expectedLastSeq);
    };
    let answered = false;
    const retrying = c
      .coordinator({ transport })
      .retry(wf, await c.history("r1"))
      .then((run) => {
        answered = true;
        return run;
      });
    await settle();
    expect(answered).toBe(false);
    expect(retried(await c.events("r1"))).toEqual([]);
    storing.open();
    const run = await retrying;
    expect(retried(await c.events("r1"))).toHaveLength(1);
    expect((await finish(c, run)).status).toBe("succeeded");
  });

  it("runtime - a retry whose claim is refused (another coordinator wrote first) rejects instead of answering", async () => {
    c = createCluster();
    register(c, ["b#1"]);
    await c.startWorker();
    const { wf, options } = oneState();
    expect((await (await c.coordinator().run(wf, {}, options)).result()).status).toBe("failed");
    const transport = c.hub.connect();
    transport.appendDecision = (decision, expectedLastSeq) => Promise.reject(new FencedError(decision.runId, expectedLastSeq));
    await expect(c.coordinator({ transport }).retry(wf, await c.history("r1"))).rejects.toBeInstanceOf(FencedError);
    expect(retried(await c.events("r1"))).toEqual([]);
  });
});
