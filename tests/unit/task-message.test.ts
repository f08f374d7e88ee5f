/**
 * The task message of an attempt (runtime/core/task-message.ts), as `decide` sends it: what
 * a worker needs, from the run's plan, options and visit. And the decider's payload fetch
 * (runtime/shell/payload-fetch.ts): a few tries for a store that is away, none for a
 * payload that is gone.
 */
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { TransportOperationError } from "../../src/errors/base.js";
import { decide, type Decided } from "../../src/runtime/core/decide.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { createRunState, evolve } from "../../src/runtime/core/run-state.js";
import { fetchForDecider, PAYLOAD_FETCH_TRIES } from "../../src/runtime/shell/payload-fetch.js";
import type { PayloadCache } from "../../src/runtime/shell/payload-cache.js";
import { WIRE_VERSION, type TaskMessage } from "../../src/transport/messages.js";
import { PayloadMissingError, type Payloads } from "../../src/transport/payloads.js";
import { createFakeClock } from "../support/fake-clock.js";
import { createSilentLogger } from "../../src/support/logger.js";

const silentLogger = createSilentLogger();

const T0 = 1_000_000;
const dispatches = (d: Decided): TaskMessage[] => d.effects.flatMap((fx) => (fx.type === "dispatch" ? [fx.message] : []));

describe("runtime - the task message of an attempt", () => {
  it("runtime - carries the run's identity, plan, fence, seed, priority, params and queue deadline; a child task gets its parents' outputs by name", () => {
    const wf = workflow("msg", { version: "1" });
    const s = wf.state("s");
    const a = s.task("a", { executor: "t/a", params: { mode: "fast" }, queueTimeoutMs: 5_000, timeoutMs: 2_000 });
    s.task("b", { executor: "t/b" }).dependsOn(a);
    const plan = compile(wf);
    const st = createRunState("r1", runModelOf(plan, wf));
    let n = 0;
    const random = { jitter: () => 0.5, token: () => `t-${String(++n).padStart(16, "0")}` };
    const first = decide(st, { type: "start", input: { n: 1 }, options: { schedule: "phases", onFailure: "fail-fast", priority: 2 }, owner: "c1", epoch: 1 }, T0, random);
    const [m] = dispatches(first);
    expect(m).toMatchObject({
      v: WIRE_VERSION,
      runId: "r1",
      planHash: plan.planHash,
      workflow: "msg",
      state: "s",
      visit: 1,
      task: "a",
      attempt: 1,
      executor: "t/a",
      input: { n: 1 },
      deadline: null,
      timeoutMs: 2_000,
      startBy: T0 + 5_000,
      dispatchedAt: T0,
      epoch: 1,
      priority: 2,
      params: { mode: "fast" },
      token: "t-0000000000000001",
    });
    expect(typeof m!.seed).toBe("number");
    expect(m!.idempotencyKey).toContain("r1");
    evolve(st, { type: "attempt.succeeded", runId: "r1", at: T0 + 10, state: "s", visit: 1, task: "a", attempt: 1, dispatchId: m!.dispatchId, token: m!.token, workerId: "w1", durationMs: 3, seq: 2, output: { a: 1 } });
    const [next] = dispatches(decide(st, { type: "report", dispatchId: m!.dispatchId }, T0 + 10, random));
    // b's input is a's output: it travels once, under parents, and the worker rebuilds it.
    expect(next).toMatchObject({ task: "b", parents: { a: { a: 1 } }, inputFrom: ["a"] });
    expect(next).not.toHaveProperty("input");
  });
});

describe("runtime - fetching the payloads a decider reads", () => {
  const refs = [{ $pfref: "sha256-abc", bytes: 300_000 }] as never;
  const payloads = {} as Payloads;

  it("runtime - a store that is away is asked again after growing pauses, and the fetch succeeds once it answers", async () => {
    const clock = createFakeClock(T0);
    let calls = 0;
    const cache = { fetch: () => (++calls < 3 ? Promise.reject(new TransportOperationError("NATS_READ_FAILED", "away")) : Promise.resolve()) } as unknown as PayloadCache;
    const got = fetchForDecider({ payloads, cache, clock, log: silentLogger, stopped: () => false }, refs);
    await clock.runAll();
    expect(await got).toBe("fetched");
    expect(calls).toBe(3);
  });

  it("runtime - a payload that is gone is not asked for again: the error comes back at once", async () => {
    const clock = createFakeClock(T0);
    let calls = 0;
    const cache = { fetch: () => (++calls, Promise.reject(new PayloadMissingError("sha256-abc"))) } as unknown as PayloadCache;
    const got = await fetchForDecider({ payloads, cache, clock, log: silentLogger, stopped: () => false }, refs);
    expect(got).toMatchObject({ error: expect.any(PayloadMissingError) as unknown });
    expect(calls).toBe(1);
  });

  it("runtime - a store that never answers fails after the last try; a run that stopped meanwhile gives up quietly", async () => {
    const clock = createFakeClock(T0);
    let calls = 0;
    const cache = { fetch: () => (++calls, Promise.reject(new TransportOperationError("NATS_READ_FAILED", "away"))) } as unknown as PayloadCache;
    const failed = fetchForDecider({ payloads, cache, clock, log: silentLogger, stopped: () => false }, refs);
    await clock.runAll();
    expect(await failed).toMatchObject({ error: expect.any(TransportOperationError) as unknown });
    expect(calls).toBe(PAYLOAD_FETCH_TRIES);
    let stopped = false;
    const quiet = fetchForDecider({ payloads, cache, clock, log: silentLogger, stopped: () => stopped }, refs);
    stopped = true;
    await clock.runAll();
    expect(await quiet).toBe("stopped");
  });
});
