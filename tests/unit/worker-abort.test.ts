/**
 * Timeouts and cancellation: the worker fires ctx.signal on timeoutMs, on the
 * deadline and on cancel control messages, and releases executors that ignore it
 * after the grace period. Time is a manual clock, so nothing here sleeps.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TaskContext } from "../../src/registry/types.js";
import { ManualClock, deferred, recordingLogger, roundTrip, startRig, type Rig } from "./worker-harness.js";

/** An executor that honours its signal: rejects with the signal's reason. */
const untilAborted = (started: () => void) => (_input: unknown, ctx: TaskContext) =>
  new Promise((_, reject) => {
    started();
    ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error));
  });

describe("worker timeouts and cancellation", () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it("worker - aborts ctx.signal when timeoutMs elapses and reports a retryable TASK_TIMEOUT", async () => {
    const clock = new ManualClock();
    const running = deferred();
    let signal: AbortSignal | undefined;
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", (input, ctx) => {
          signal = ctx.signal;
          return untilAborted(running.resolve)(input, ctx);
        }),
      { clock },
    );
    await rig.coordinator.dispatch(rig.task("a", { timeoutMs: 5_000 }));
    await running.promise;
    clock.advance(4_999);
    expect(signal?.aborted).toBe(false);
    clock.advance(1);
    expect(signal?.aborted).toBe(true);
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_TIMEOUT", retryable: true } });
    expect(rig.worker.stats()).toMatchObject({ failed: 1, abandoned: 0 });
  });

  it("worker - cuts the time budget short at the task's deadline and refuses a task already past it", async () => {
    const clock = new ManualClock();
    const running = deferred();
    rig = await startRig((r) => r.namespace("t").register("run", untilAborted(running.resolve)), { clock });
    await rig.coordinator.dispatch(rig.task("late", { deadline: clock.now() - 1, timeoutMs: 1_000 }));
    expect(await rig.result("late")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_TIMEOUT" } });
    expect(rig.eventsOf("late")).toEqual(["attempt.failed"]);

    await rig.coordinator.dispatch(rig.task("soon", { deadline: clock.now() + 100, timeoutMs: 60_000 }));
    await running.promise;
    clock.advance(100);
    expect(await rig.result("soon")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_TIMEOUT" } });
  });

  it("worker - releases an executor that ignores its signal after the grace period and discards its late result", async () => {
    const clock = new ManualClock();
    const logger = recordingLogger();
    const hung = deferred<unknown>();
    const running = deferred();
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", (input: { task: string }) => {
          if (input.task === "next") return "next done";
          running.resolve();
          return hung.promise; // never looks at ctx.signal
        }),
      { clock, logger, concurrency: 1, abortGraceMs: 500 },
    );
    await rig.coordinator.dispatch(rig.task("hung", { timeoutMs: 1_000 }));
    await rig.coordinator.dispatch(rig.task("next"));
    await running.promise;
    clock.advance(1_000);
    await roundTrip(rig.coordinator);
    expect(rig.eventsOf("hung")).toEqual(["attempt.started"]);
    clock.advance(500);
    expect(await rig.result("hung")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_TIMEOUT" } });
    // The slot is free again: the next task (concurrency 1) runs.
    expect(await rig.result("next")).toMatchObject({ type: "attempt.succeeded", output: "next done" });
    await roundTrip(rig.coordinator); // the ack follows the stored report
    expect(rig.worker.stats()).toMatchObject({ abandoned: 1, inFlight: 0 });

    hung.resolve({ too: "late" });
    await roundTrip(rig.coordinator);
    expect(rig.eventsOf("hung")).toEqual(["attempt.started", "attempt.failed"]);
    expect(logger.lines.some((l) => l.level === "warn" && l.msg.includes("after it was abandoned"))).toBe(true);
  });

  it("worker - aborts the attempts of a run on cancel.run and reports TASK_CANCELLED, not retryable", async () => {
    const started: string[] = [];
    const bothRunning = deferred();
    rig = await startRig((r) =>
      r.namespace("t").register(
        "run",
        untilAborted(() => {
          started.push("x");
          if (started.length === 2) bothRunning.resolve();
        }),
      ),
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await rig.coordinator.dispatch(rig.task("b"));
    await bothRunning.promise;
    await rig.coordinator.publishControl({ v: 2, type: "cancel.run", runId: rig.runId, reason: "user asked", round: 0 });
    for (const task of ["a", "b"]) {
      const result = await rig.result(task);
      expect(result).toMatchObject({ type: "attempt.failed", error: { code: "TASK_CANCELLED", retryable: false } });
      expect(result.type === "attempt.failed" && result.error.message).toContain("user asked");
    }
  });

  it("worker - aborts only the named attempt on cancel.attempt", async () => {
    const running = deferred();
    const finishB = deferred<string>();
    rig = await startRig((r) =>
      r.namespace("t").register("run", (input: { task: string }, ctx) =>
        input.task === "a" ? untilAborted(running.resolve)(input, ctx) : finishB.promise,
      ),
    );
    const a = rig.task("a");
    await rig.coordinator.dispatch(a);
    await rig.coordinator.dispatch(rig.task("b"));
    await running.promise;
    await rig.coordinator.publishControl({ v: 2, type: "cancel.attempt", runId: rig.runId, dispatchId: a.dispatchId, reason: "attempt timed out" });
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_CANCELLED" } });
    finishB.resolve("b done");
    expect(await rig.result("b")).toMatchObject({ type: "attempt.succeeded", output: "b done" });
  });

  it("worker - refuses a task of a run cancelled before the task arrived", async () => {
    let ran = false;
    rig = await startRig((r) =>
      r.namespace("t").register("run", () => {
        ran = true;
        return null;
      }),
    );
    await rig.coordinator.publishControl({ v: 2, type: "cancel.run", runId: rig.runId, reason: "fail-fast", round: 0 });
    await roundTrip(rig.coordinator);
    await rig.coordinator.dispatch(rig.task("a"));
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_CANCELLED" } });
    expect(rig.eventsOf("a")).toEqual(["attempt.failed"]);
    expect(ran).toBe(false);
  });

  it("worker - a run cancel covers its round and earlier ones, not the tasks of a later partial re-run", async () => {
    rig = await startRig((r) => r.namespace("t").register("run", (input: { task: string }) => `${input.task} ran`));
    await rig.coordinator.publishControl({ v: 2, type: "cancel.run", runId: rig.runId, reason: "fail-fast", round: 0 });
    await roundTrip(rig.coordinator);
    await rig.coordinator.dispatch(rig.task("old", { round: 0 }));
    await rig.coordinator.dispatch(rig.task("rerun", { round: 1, idempotencyKey: `${rig.runId}/s/1/rerun#1` }));
    expect(await rig.result("old")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_CANCELLED" } });
    expect(await rig.result("rerun")).toMatchObject({ type: "attempt.succeeded", output: "rerun ran" });
  });

  it("worker - reports the abort reason even when the executor returns a value after its signal fired", async () => {
    const clock = new ManualClock();
    const running = deferred();
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", (_input, ctx) => {
          running.resolve();
          return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve("partial")));
        }),
      { clock },
    );
    await rig.coordinator.dispatch(rig.task("a", { timeoutMs: 10 }));
    await running.promise;
    clock.advance(10);
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "TASK_TIMEOUT" } });
  });
});
