/**
 * What a worker reports for one attempt: one stored report carrying the attempt's
 * token (plus live signals for long attempts), serialized errors, schema checks on
 * input and output, unknown executors, and the context an executor receives.
 */
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import { WIRE_VERSION, dispatchIdOf } from "../../src/transport/messages.js";
import { LIVE_HEARTBEAT_MS, LIVE_START_MS, UNKNOWN_EXECUTOR_REDELIVERIES } from "../../src/worker/attempt.js";
import { ManualClock, deferred, recordingLogger, roundTrip, startRig, type Rig } from "./worker-harness.js";

describe("worker reports", () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it("worker - a short attempt stores one report: succeeded, with the output, a duration and the attempt's token, and no attempt.started", async () => {
    rig = await startRig((r) => r.namespace("t").register("run", (input: { task: string }) => ({ echoed: input.task })));
    const task = rig.task("a", { token: "token-of-this-attempt-a" });
    await rig.coordinator.dispatch(task);
    const result = await rig.result("a");
    expect(rig.eventsOf("a")).toEqual(["attempt.succeeded"]);
    expect(result).toMatchObject({ v: WIRE_VERSION, kind: "report", type: "attempt.succeeded", output: { echoed: "a" }, workerId: "w1", attempt: 1, runId: rig.runId, dispatchId: task.dispatchId, token: task.token });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    await roundTrip(rig.coordinator); // the ack follows the stored report
    expect(rig.worker.stats()).toMatchObject({ completed: 1, failed: 0, inFlight: 0 });
    const { messages } = await rig.coordinator.readHistory(rig.runId);
    expect(messages.map((m) => m.message.kind)).toEqual(["report"]);
  });

  it("worker - an attempt still running after 200 ms sends a live attempt.started, then a heartbeat every 5 s, none of them stored", async () => {
    const clock = new ManualClock();
    const release = deferred();
    const running = deferred();
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", async () => {
          running.resolve();
          await release.promise;
          return null;
        }),
      { clock },
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await running.promise;
    clock.advance(LIVE_START_MS - 1);
    await roundTrip(rig.coordinator);
    expect(rig.eventsOf("a")).toEqual([]);
    clock.advance(1);
    await rig.waitForEvent((e) => e.type === "attempt.started", "attempt.started");
    clock.advance(LIVE_HEARTBEAT_MS);
    await rig.waitForEvent((e) => e.type === "attempt.heartbeat", "a heartbeat");
    release.resolve();
    await rig.result("a");
    expect(rig.eventsOf("a")).toEqual(["attempt.started", "attempt.heartbeat", "attempt.succeeded"]);
    expect(rig.events.items.find((e) => e.type === "attempt.started")).toMatchObject({ workerId: "w1", at: clock.now() - LIVE_HEARTBEAT_MS });
    // Settled: no more signals, and only the report was stored.
    expect(clock.pending).toBe(0);
    const { messages } = await rig.coordinator.readHistory(rig.runId);
    expect(messages).toHaveLength(1);
  });

  it("worker - reports a thrown error as attempt.failed with the error serialized and retryable", async () => {
    rig = await startRig((r) =>
      r.namespace("t").register("run", () => {
        throw Object.assign(new Error("disk full"), { code: "ENOSPC" });
      }),
    );
    await rig.coordinator.dispatch(rig.task("a"));
    const result = await rig.result("a");
    expect(result).toMatchObject({ type: "attempt.failed", error: { name: "Error", code: "ENOSPC", message: "disk full", retryable: true } });
    expect(rig.eventsOf("a")).toEqual(["attempt.failed"]);
    expect(rig.worker.stats()).toMatchObject({ completed: 0, failed: 1 });
  });

  it("worker - keeps retryable false for a NonRetryableError", async () => {
    rig = await startRig((r) =>
      r.namespace("t").register("run", async () => {
        throw new NonRetryableError("bad credentials", { code: "AUTH" });
      }),
    );
    await rig.coordinator.dispatch(rig.task("a"));
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "AUTH", retryable: false, name: "NonRetryableError" } });
  });

  it("worker - fails without running the executor when the input breaks its schema", async () => {
    let ran = false;
    rig = await startRig((r) =>
      r.namespace("t").register(
        "run",
        () => {
          ran = true;
        },
        { input: z.object({ rows: z.array(z.number()) }) },
      ),
    );
    await rig.coordinator.dispatch(rig.task("a", { input: { rows: ["x"] } }));
    const result = await rig.result("a");
    expect(result).toMatchObject({ type: "attempt.failed", error: { code: "TASK_INPUT_INVALID", retryable: false } });
    expect(result.type === "attempt.failed" && result.error.message).toContain("rows.0");
    expect(rig.eventsOf("a")).toEqual(["attempt.failed"]);
    expect(ran).toBe(false);
  });

  it("worker - passes the parsed input (with schema defaults) to the executor", async () => {
    rig = await startRig((r) =>
      r.namespace("t").register("run", (input: { n: number }) => input, { input: z.object({ n: z.number().default(7) }) }),
    );
    await rig.coordinator.dispatch(rig.task("a", { input: {} }));
    expect(await rig.result("a")).toMatchObject({ type: "attempt.succeeded", output: { n: 7 } });
  });

  it("worker - fails non-retryably when the output breaks its schema", async () => {
    rig = await startRig((r) => r.namespace("t").register("run", () => ({ rows: "none" }) as unknown as { rows: number[] }, { output: z.object({ rows: z.array(z.number()) }) }));
    await rig.coordinator.dispatch(rig.task("a"));
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "OUTPUT_INVALID", retryable: false } });
    expect(rig.eventsOf("a")).toEqual(["attempt.failed"]);
  });

  it("worker - hands a task back for another worker before failing it with EXECUTOR_NOT_FOUND", async () => {
    rig = await startRig((r) => r.namespace("t").register("run", () => null));
    await rig.coordinator.dispatch(rig.task("a", { executor: "t/missing" }));
    const result = await rig.result("a");
    expect(result).toMatchObject({ type: "attempt.failed", error: { code: "EXECUTOR_NOT_FOUND", retryable: false } });
    expect(result.type === "attempt.failed" && result.error.message).toContain("t/run");
    // Handed back on the first deliveries (a worker that has it may take it), failed on the last.
    expect(rig.worker.stats().requeued).toBe(UNKNOWN_EXECUTOR_REDELIVERIES - 1);
    expect(rig.hub.stats().queued).toBe(0);
  });

  it("worker - reports undefined output as null", async () => {
    rig = await startRig((r) => r.namespace("t").register("run", () => undefined));
    await rig.coordinator.dispatch(rig.task("a"));
    expect(await rig.result("a")).toMatchObject({ type: "attempt.succeeded", output: null });
  });

  it("worker - reports an output that is not JSON as a non-retryable PAYLOAD_NOT_JSON failure", async () => {
    rig = await startRig((r) => r.namespace("t").register("run", () => ({ big: 2n ** 70n })));
    await rig.coordinator.dispatch(rig.task("a"));
    expect(await rig.result("a")).toMatchObject({ type: "attempt.failed", error: { code: "PAYLOAD_NOT_JSON", retryable: false } });
    expect(rig.eventsOf("a")).toEqual(["attempt.failed"]);
  });

  it("worker - gives the executor its run, task, attempt, parents, idempotency key and a logger with bindings", async () => {
    const logger = recordingLogger();
    let seen: TaskContext | undefined;
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", (_input, ctx) => {
          seen = ctx;
          ctx.log.info("hello from the executor");
          return null;
        }),
      { logger },
    );
    await rig.coordinator.dispatch(rig.task("a", { attempt: 3, visit: 2, parents: { up: { x: 1 } }, dispatchId: dispatchIdOf(rig.runId, "s", 2, "a", 3) }));
    await rig.result("a");
    expect(seen).toMatchObject({ runId: rig.runId, taskId: "s/a", state: "s", task: "a", visit: 2, attempt: 3, parents: { up: { x: 1 } } });
    expect(seen?.idempotencyKey).toBe(`${rig.runId}/s/1/a`);
    expect(seen?.signal.aborted).toBe(false);
    expect(logger.lines.find((l) => l.msg === "hello from the executor")?.bindings).toMatchObject({ runId: rig.runId, task: "s/a", attempt: 3, workerId: "w1" });
  });

  it("worker - throttles progress to one event per interval and keeps the latest value", async () => {
    const clock = new ManualClock();
    const release = deferred();
    const reported = deferred();
    rig = await startRig(
      (r) =>
        r.namespace("t").register("run", async (_input, ctx) => {
          for (let i = 1; i <= 5; i++) ctx.progress(i, 5);
          reported.resolve();
          await release.promise;
          return null;
        }),
      { clock, progressIntervalMs: 250 },
    );
    await rig.coordinator.dispatch(rig.task("a"));
    await reported.promise;
    await rig.waitForEvent((e) => e.type === "attempt.progress" && e.done === 1, "first progress");
    clock.advance(250);
    await rig.waitForEvent((e) => e.type === "attempt.progress" && e.done === 5, "trailing progress");
    release.resolve();
    await rig.result("a");
    await roundTrip(rig.coordinator);
    expect(rig.events.items.filter((e) => e.type === "attempt.progress").map((e) => e.type === "attempt.progress" && [e.done, e.total])).toEqual([
      [1, 5],
      [5, 5],
    ]);
    // Progress says the attempt runs, so it comes before attempt.started (sent at 200 ms, before the trailing progress at 250 ms).
    expect(rig.eventsOf("a")).toEqual(["attempt.progress", "attempt.started", "attempt.progress", "attempt.succeeded"]);
  });
});
