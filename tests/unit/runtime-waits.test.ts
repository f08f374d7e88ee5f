// Signal and sleep nodes on fake time, embedded: they hold no worker slot, succeed with
// the signal's payload or { sleptUntil }, time out with SIGNAL_TIMEOUT (retried per
// policy, or routed with onTimeout), and keep signals sent before they are reached.
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { createFakeClock, type FakeClock } from "../support/fake-clock.js";
import { allEvents, testEngine, waitForEvent, type TestEngine } from "../support/runtime-fixtures.js";

let t: TestEngine;
let clock: FakeClock;
afterEach(async () => {
  await t.close();
});

const START = 1_800_000_000_000;

function setup(): void {
  clock = createFakeClock(START);
  t = testEngine({ clock, random: () => 0.5 });
  t.registry.namespace("t").register("draft", (input: unknown) => ({ text: "v1", ...(input as object) }));
  t.registry.namespace("t").register("publish", (input: unknown) => ({ published: input }));
}

function reviewFlow(options: { timeoutMs?: number; retries?: number; onTimeout?: { output: unknown } } = {}) {
  const wf = workflow("review", { version: "1" });
  const s = wf.state("s");
  const draft = s.task("draft", { executor: "t/draft" });
  const verdict = s.signal("verdict", { schema: z.object({ ok: z.boolean() }), ...options });
  draft.then(verdict);
  return wf;
}

describe("runtime - sleep nodes", () => {
  it("runtime - a sleep of ms succeeds with { sleptUntil } exactly when due, and no worker ran it", async () => {
    setup();
    const wf = workflow("nap", { version: "1" });
    const s = wf.state("s");
    s.task("draft", { executor: "t/draft" }).then(s.sleep("pause", { ms: 60_000 })).then(s.task("publish", { executor: "t/publish" }));
    const run = await t.engine.run(wf, {});
    const waiting = await waitForEvent(run, "task.waiting");
    expect(waiting.wait).toEqual({ kind: "sleep", until: START + 60_000 });
    expect(run.status().tasks.find((x) => x.task === "pause")).toMatchObject({ status: "running", wait: { kind: "sleep", until: START + 60_000 } });
    await clock.advance(59_999);
    expect(run.status().tasks.find((x) => x.task === "pause")?.status).toBe("running");
    await clock.advance(1);
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    const pause = record.tasks.find((x) => x.task === "pause")!;
    expect(pause.output).toEqual({ sleptUntil: START + 60_000 });
    expect(pause.finishedAt).toBe(START + 60_000);
    expect(pause.executor).toBeUndefined();
    expect((await allEvents(run)).some((e) => e.type === "task.dispatched" && e.task === "pause")).toBe(false);
  });

  it("runtime - a sleep until(input) wakes at the returned time; a time in the past wakes at once", async () => {
    setup();
    const wf = workflow("until", { version: "1" });
    const s = wf.state("s");
    const draft = s.task("draft", { executor: "t/draft" });
    draft.then(s.sleep("later", { until: (input: { at: number }) => new Date(input.at) }));
    draft.then(s.sleep("past", { until: () => START - 5 }));
    const run = await t.engine.run(wf, { at: START + 3_600_000 });
    await waitForEvent(run, "task.waited", (e) => e.task === "past");
    expect(run.status().tasks.find((x) => x.task === "past")?.output).toEqual({ sleptUntil: START - 5 });
    await clock.advance(3_600_000);
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.tasks.find((x) => x.task === "later")?.finishedAt).toBe(START + 3_600_000);
  });

  it("runtime - an until that throws fails the node with SLEEP_UNTIL_INVALID", async () => {
    setup();
    const wf = workflow("bad-until", { version: "1" });
    wf.state("s").sleep("later", {
      until: () => {
        throw new Error("no date");
      },
    });
    const record = await (await t.engine.run(wf, {})).result();
    expect(record.status).toBe("failed");
    expect(record.tasks[0]?.error?.code).toBe("SLEEP_UNTIL_INVALID");
  });
});

describe("runtime - signal nodes", () => {
  it("runtime - a signal node succeeds with the payload of the signal sent while it waits", async () => {
    setup();
    const run = await t.engine.run(reviewFlow(), {});
    await waitForEvent(run, "task.waiting");
    expect(run.status().tasks.find((x) => x.task === "verdict")?.wait).toEqual({ kind: "signal", name: "verdict", deadline: null });
    const sent = await t.engine.signal(run.runId, "verdict", { ok: true });
    expect(sent.duplicate).toBe(false);
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ ok: true });
    expect(record.signals).toEqual([{ name: "verdict", id: sent.id, at: START, seq: expect.any(Number), consumedBy: "s/verdict" }]);
  });

  it("runtime - a signal sent before its node is reached is kept and consumed when it is", async () => {
    setup();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    t.registry.namespace("slow").register("draft", async () => {
      await held;
      return { text: "v1" };
    });
    const wf = workflow("early", { version: "1" });
    const s = wf.state("s");
    s.task("draft", { executor: "slow/draft" }).then(s.signal("verdict"));
    const run = await t.engine.run(wf, {});
    await waitForEvent(run, "task.dispatched");
    await t.engine.signal(run.runId, "verdict", { early: true }, { id: "v-1" });
    await clock.flush();
    expect(run.status().tasks.find((x) => x.task === "verdict")).toBeUndefined();
    release();
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ early: true });
    const events = await allEvents(run);
    expect(events.some((e) => e.type === "task.waiting")).toBe(false);
    expect(events.find((e) => e.type === "task.waited")).toMatchObject({ task: "verdict", signal: expect.any(Number) });
  });

  it("runtime - a signal id sent twice is applied once; a payload failing the schema is refused and changes nothing", async () => {
    setup();
    const wf = workflow("twice", { version: "1" });
    const s = wf.state("s");
    const draft = s.task("draft", { executor: "t/draft" });
    const a = s.signal("first", { signal: "verdict", schema: z.object({ ok: z.boolean() }) });
    const b = s.signal("second", { signal: "verdict", schema: z.object({ ok: z.boolean() }) });
    draft.then([a, b]);
    const run = await t.engine.run(wf, {});
    await waitForEvent(run, "task.waiting", (e) => e.task === "second");
    await expect(t.engine.signal(run.runId, "verdict", { ok: "yes" })).rejects.toMatchObject({ code: "SIGNAL_PAYLOAD_INVALID", issues: [{ path: ["ok"] }] });
    await expect(t.engine.signal(run.runId, "nope", {})).rejects.toMatchObject({ code: "SIGNAL_UNKNOWN" });
    expect((await t.engine.signal(run.runId, "verdict", { ok: true }, { id: "once" })).duplicate).toBe(false);
    await clock.flush();
    expect((await t.engine.signal(run.runId, "verdict", { ok: false }, { id: "once" })).duplicate).toBe(true);
    await clock.flush();
    // One signal, two nodes waiting in parallel: the first declared took it, the other still waits.
    const status = run.status();
    expect(status.tasks.find((x) => x.task === "first")).toMatchObject({ status: "succeeded", output: { ok: true } });
    expect(status.tasks.find((x) => x.task === "second")?.status).toBe("running");
    expect(status.signals).toHaveLength(1);
    await t.engine.signal(run.runId, "verdict", { ok: false }, { id: "twice" });
    const record = await run.result();
    expect(record.tasks.find((x) => x.task === "second")?.output).toEqual({ ok: false });
    await expect(t.engine.signal(run.runId, "verdict", { ok: true })).rejects.toMatchObject({ code: "SIGNAL_RUN_FINISHED" });
  });

  it("runtime - timeoutMs fails the node with SIGNAL_TIMEOUT at the deadline, after waiting again per retries", async () => {
    setup();
    const run = await t.engine.run(reviewFlow({ timeoutMs: 10_000, retries: 1 }), {});
    await waitForEvent(run, "task.waiting");
    await clock.advance(10_000);
    const retrying = await waitForEvent(run, "task.retrying");
    expect(retrying.at).toBe(START + 10_000);
    expect(retrying.error.code).toBe("SIGNAL_TIMEOUT");
    await clock.advance(retrying.dueAt - clock.now());
    const second = await waitForEvent(run, "task.waiting", (e) => e.attempt === 2);
    expect(second.wait).toEqual({ kind: "signal", name: "verdict", deadline: retrying.dueAt + 10_000 });
    await clock.advance(10_000);
    const record = await run.result();
    expect(record.status).toBe("failed");
    expect(record.tasks.find((x) => x.task === "verdict")).toMatchObject({ status: "failed", attempts: 2, error: { code: "SIGNAL_TIMEOUT" } });
  });

  it("runtime - onTimeout routes a timed-out signal node on instead of failing", async () => {
    setup();
    const wf = workflow("route", { version: "1" });
    const s = wf.state("s");
    const verdict = s.signal("verdict", { schema: z.object({ pathway: z.enum(["approve", "expired"]) }), timeoutMs: 5_000, onTimeout: { output: { pathway: "expired" } } });
    s.task("draft", { executor: "t/draft" }).then(verdict);
    const done = wf.state("done", { final: true });
    const expired = wf.state("expired", { final: true });
    s.route(verdict, { approve: done, expired });
    const run = await t.engine.run(wf, {});
    await waitForEvent(run, "task.waiting");
    await clock.advance(5_000);
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.states.map((x) => x.name)).toEqual(["s", "expired"]);
  });

  it("runtime - cancelling a run with a waiting node cancels the node", async () => {
    setup();
    const run = await t.engine.run(reviewFlow({ timeoutMs: 60_000 }), {});
    await waitForEvent(run, "task.waiting");
    await run.cancel("no longer needed");
    const record = await run.result();
    expect(record.status).toBe("cancelled");
    expect(record.tasks.find((x) => x.task === "verdict")).toMatchObject({ status: "cancelled" });
    expect(record.tasks.find((x) => x.task === "verdict")?.wait).toBeUndefined();
  });
});
