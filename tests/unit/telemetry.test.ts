// OpenTelemetry of embedded runs: with no SDK nothing is made and no task message
// carries a trace context; with one, a run yields the span tree run -> state -> task ->
// attempt (the attempt's parent named by the task message's traceparent), counters that
// match the run record, and a run picked up by another coordinator traces on in the
// same trace.
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { createRegistry } from "../../src/registry/registry.js";
import { createEngine } from "../../src/embedded/engine.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { parseTraceparent, tracingEnabled } from "../../src/telemetry/otel.js";
import { telemetryRegistered } from "../../src/telemetry/registered.js";
import type { TaskMessage } from "../../src/transport/messages.js";
import { createMemoryHub } from "../../src/transport/memory/index.js";
import { childrenOf, installTestTelemetry, parentIdOf, spansOf, type TestTelemetry } from "../support/otel.js";
import { waitForEvent } from "../support/runtime-fixtures.js";

/** Two states; `a/flaky` fails its first attempt and succeeds on the second. */
function flow(name: string) {
  const wf = workflow(name, { version: "1" });
  const a = wf.state("a");
  const first = a.task("first", { executor: "tel/echo" });
  const flaky = a.task("flaky", { executor: "tel/flaky", retries: 2, backoff: { initialMs: 1, maxMs: 1 } });
  first.then(flaky);
  const b = wf.state("b");
  b.task("last", { executor: "tel/echo" });
  a.transition(b);
  return wf;
}

function failing(name: string) {
  const wf = workflow(name, { version: "1" });
  wf.state("s").task("boom", { executor: "tel/boom" });
  return wf;
}

function registry() {
  const r = createRegistry();
  const ns = r.namespace("tel");
  ns.register("echo", (input: unknown) => ({ echoed: input ?? null }));
  ns.register("flaky", (_input: unknown, ctx) => {
    if (ctx.attempt === 1) throw Object.assign(new Error("flaky once"), { code: "FLAKY" });
    return { ok: true };
  });
  ns.register("boom", () => {
    throw Object.assign(new Error("always"), { code: "BOOM" });
  });
  return r;
}

/** An embedded engine over a hub whose task messages the test can see. */
function engineWithTap(options: { worker?: boolean } = {}) {
  const hub = createMemoryHub();
  const transport = hub.connect();
  const sent: TaskMessage[] = [];
  const dispatch = transport.dispatch.bind(transport);
  transport.dispatch = (m) => {
    sent.push(structuredClone(m));
    return dispatch(m);
  };
  const engine = createEngine({ registry: registry(), transport, worker: options.worker ?? true });
  return {
    hub,
    transport,
    engine,
    sent,
    close: async () => {
      await engine.close();
      await hub.close();
    },
  };
}

describe("telemetry - without an SDK", () => {
  it("telemetry - the CLI's check sees no registered SDK (so it never loads the API to flush)", () => {
    expect(telemetryRegistered()).toBe(false);
  });

  it("telemetry - with no SDK registered no span is made and no task message carries a trace context", async () => {
    expect(tracingEnabled()).toBe(false);
    const t = engineWithTap();
    const run = await t.engine.run(flow("tel-off"), {});
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(t.sent.length).toBe(4);
    for (const m of t.sent) {
      expect(m.traceparent).toBeUndefined();
      expect(m.tracestate).toBeUndefined();
    }
    const started = historyEvents((await t.transport.readHistory(run.runId)).messages)[0];
    expect(started).toMatchObject({ type: "run.started" });
    expect(started && "traceparent" in started).toBe(false);
    await t.close();
  });
});

describe("telemetry - traceparent", () => {
  it("telemetry - reads a W3C traceparent and refuses malformed ones instead of failing the task", () => {
    expect(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k=v")).toMatchObject({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
      isRemote: true,
    });
    expect(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k=v")?.traceState?.get("k")).toBe("v");
    for (const bad of ["", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"]) {
      expect(parseTraceparent(bad), bad).toBeUndefined();
    }
    // A later version may add fields after the flags.
    expect(parseTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-more")?.traceFlags).toBe(0);
  });
});

describe("telemetry - embedded runs", () => {
  let otel: TestTelemetry;
  beforeAll(() => {
    otel = installTestTelemetry();
  });
  afterAll(async () => {
    await otel.shutdown();
  });

  it("telemetry - the CLI's check sees the registered SDK (so it flushes before exiting)", () => {
    expect(telemetryRegistered()).toBe(true);
  });

  it("telemetry - an embedded run yields run -> state -> task -> attempt spans, linked by the task messages' traceparent", async () => {
    const t = engineWithTap();
    const run = await t.engine.run(flow("tel-tree"), {});
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    const history = historyEvents((await t.transport.readHistory(run.runId)).messages);
    await t.close();

    const runSpans = otel.spans.getFinishedSpans().filter((s) => s.name === "run tel-tree");
    expect(runSpans).toHaveLength(1);
    const root = runSpans[0]!;
    expect(parentIdOf(root)).toBeUndefined();
    expect(root.attributes).toMatchObject({ "phaseflow.workflow": "tel-tree", "phaseflow.run.id": run.runId, "phaseflow.status": "succeeded" });
    expect(root.status.code).toBe(SpanStatusCode.OK);
    const spans = spansOf(otel.spans, root.spanContext().traceId);

    const states = childrenOf(spans, root, "state ");
    expect(states.map((s) => s.name).sort()).toEqual(["state a", "state b"]);
    const stateA = states.find((s) => s.name === "state a")!;
    expect(stateA.attributes).toMatchObject({ "phaseflow.state": "a", "phaseflow.state.visit": 1, "phaseflow.state.next": "b" });

    const tasksA = childrenOf(spans, stateA, "task ");
    expect(tasksA.map((s) => s.name).sort()).toEqual(["task a/first", "task a/flaky"]);
    const flakyTask = tasksA.find((s) => s.name === "task a/flaky")!;
    expect(flakyTask.attributes).toMatchObject({ "phaseflow.task.id": "a/flaky", "phaseflow.executor": "tel/flaky", "phaseflow.status": "succeeded", "phaseflow.task.attempts": 2 });
    expect(flakyTask.events.map((e) => e.name)).toEqual(["dispatched", "attempt failed", "retrying", "dispatched"]);

    const attempts = childrenOf(spans, flakyTask, "attempt ");
    expect(attempts.map((s) => [s.name, s.attributes["phaseflow.attempt"], s.attributes["phaseflow.status"]])).toEqual([
      ["attempt a/flaky", 1, "failed"],
      ["attempt a/flaky", 2, "succeeded"],
    ]);
    expect(attempts[0]!.attributes).toMatchObject({ "phaseflow.error.code": "FLAKY", "error.type": "FLAKY", "phaseflow.run.id": run.runId, "phaseflow.worker.id": expect.any(String) });
    expect(attempts[0]!.status.code).toBe(SpanStatusCode.ERROR);

    // Every task span has one attempt span per attempt, and the message of each attempt named its task span.
    for (const taskSpan of spans.filter((s) => s.name.startsWith("task "))) {
      const id = String(taskSpan.attributes["phaseflow.task.id"]);
      const messages = t.sent.filter((m) => `${m.state}/${m.task}` === id);
      expect(childrenOf(spans, taskSpan, "attempt ")).toHaveLength(messages.length);
      for (const m of messages) {
        const sc = parseTraceparent(m.traceparent);
        expect(sc).toMatchObject({ traceId: root.spanContext().traceId, spanId: taskSpan.spanContext().spanId });
      }
    }
    expect(spans).toHaveLength(1 + 2 + 3 + 4);

    // The run span's trace context is in the history, for whoever resumes the run.
    const started = history[0];
    expect(started?.type === "run.started" && parseTraceparent(started.traceparent)?.spanId).toBe(root.spanContext().spanId);
  });

  it("telemetry - counters and histograms match the run record", async () => {
    const t = engineWithTap();
    const record = await (await t.engine.run(flow("tel-metrics"), {})).result();
    await t.close();
    const wf = { "phaseflow.workflow": "tel-metrics" };
    const attempts = record.tasks.reduce((n, task) => n + task.attempts, 0);
    expect(attempts).toBe(4);
    expect(await otel.sum("phaseflow.tasks.dispatched", wf)).toBe(attempts);
    expect(await otel.sum("phaseflow.tasks.dispatched", { ...wf, "phaseflow.executor": "tel/flaky" })).toBe(2);
    expect(await otel.sum("phaseflow.tasks.succeeded", wf)).toBe(record.tasks.filter((x) => x.status === "succeeded").length);
    expect(await otel.sum("phaseflow.tasks.failed", wf)).toBe(0);
    expect(await otel.sum("phaseflow.tasks.retried", wf)).toBe(attempts - record.tasks.length);
    expect(await otel.count("phaseflow.attempt.duration", wf)).toBe(attempts);
    expect(await otel.count("phaseflow.attempt.duration", { ...wf, "phaseflow.status": "failed" })).toBe(1);
    expect(await otel.count("phaseflow.attempt.queue_wait", wf)).toBe(attempts);
    expect(await otel.sum("phaseflow.runs.active", wf)).toBe(0);
  });

  it("telemetry - map instances count like tasks, settled ones read from the coordinator's columns", async () => {
    const wf = workflow("tel-map", { version: "1" });
    wf.state("s").map("each", { executor: "tel/flaky", items: () => [1, 2, 3], retries: 1, backoff: { initialMs: 1, maxMs: 1 } });
    const t = engineWithTap();
    const record = await (await t.engine.run(wf, {})).result();
    await t.close();
    const attrs = { "phaseflow.workflow": "tel-map" };
    expect(record.tasks.filter((x) => x.map === "each").map((x) => [x.status, x.attempts])).toEqual([["succeeded", 2], ["succeeded", 2], ["succeeded", 2]]);
    expect(await otel.sum("phaseflow.tasks.dispatched", attrs)).toBe(6);
    expect(await otel.sum("phaseflow.tasks.retried", attrs)).toBe(3);
    // An instance's success is counted with its executor, read from its record after it was stored compactly.
    expect(await otel.sum("phaseflow.tasks.succeeded", { ...attrs, "phaseflow.executor": "tel/flaky" })).toBe(3);
  });

  it("telemetry - a failed task and its run end with an error status and code", async () => {
    const t = engineWithTap();
    const run = await t.engine.run(failing("tel-fail"), {});
    const record = await run.result();
    await t.close();
    expect(record.status).toBe("failed");
    const root = otel.spans.getFinishedSpans().find((s) => s.name === "run tel-fail")!;
    expect(root.status.code).toBe(SpanStatusCode.ERROR);
    expect(root.attributes).toMatchObject({ "phaseflow.status": "failed", "phaseflow.error.code": "TASK_FAILED" });
    const spans = spansOf(otel.spans, root.spanContext().traceId);
    const task = spans.find((s) => s.name === "task s/boom")!;
    expect(task.status.code).toBe(SpanStatusCode.ERROR);
    expect(task.attributes).toMatchObject({ "phaseflow.status": "failed", "phaseflow.error.code": "BOOM" });
    expect(childrenOf(spans, task, "attempt ")[0]?.attributes).toMatchObject({ "phaseflow.status": "failed", "phaseflow.error.code": "BOOM" });
    expect(await otel.sum("phaseflow.tasks.failed", { "phaseflow.workflow": "tel-fail", "phaseflow.executor": "tel/boom" })).toBe(1);
  });

  it("telemetry - a run started inside the caller's span is a child of it", async () => {
    const t = engineWithTap();
    const wf = failing("tel-parent");
    const run = await trace.getTracer("test").startActiveSpan("caller-active", (span) => t.engine.run(wf, {}).finally(() => span.end()));
    await run.result();
    await t.close();
    const active = otel.spans.getFinishedSpans().find((s) => s.name === "caller-active")!;
    const root = otel.spans.getFinishedSpans().find((s) => s.name === "run tel-parent")!;
    expect(parentIdOf(root)).toBe(active.spanContext().spanId);
  });

  it("telemetry - a run picked up by another coordinator goes on in the same trace, under a resumed run span", async () => {
    const hub = createMemoryHub();
    const a = createEngine({ registry: registry(), transport: hub.connect(), worker: false, coordinatorId: "a" });
    const wf = flow("tel-takeover");
    const run = await a.run(wf, {});
    await waitForEvent(run, "task.dispatched");
    const reader = hub.connect();
    // Wait until A's first decisions (with the dispatch) are stored, then let the run go.
    for (;;) {
      const events = historyEvents((await reader.readHistory(run.runId)).messages);
      if (events.some((e) => e.type === "task.dispatched")) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    a.release(run.runId);
    await a.close();

    const b = createEngine({ registry: registry(), transport: hub.connect(), worker: true, coordinatorId: "b" });
    const resumed = await b.resume(wf, (await reader.readHistory(run.runId)).messages);
    const record = await resumed.result();
    expect(record.status).toBe("succeeded");
    await b.close();
    await hub.close();

    const runSpans = otel.spans.getFinishedSpans().filter((s) => s.name === "run tel-takeover");
    expect(runSpans).toHaveLength(2);
    const [first, second] = [runSpans.find((s) => s.attributes["phaseflow.run.resumed"] === undefined)!, runSpans.find((s) => s.attributes["phaseflow.run.resumed"] === true)!];
    expect(first.attributes["phaseflow.status"]).toBe("released");
    expect(second.spanContext().traceId).toBe(first.spanContext().traceId);
    expect(parentIdOf(second)).toBe(first.spanContext().spanId);
    expect(second.attributes).toMatchObject({ "phaseflow.status": "succeeded", "phaseflow.coordinator.epoch": 2 });
    const spans = spansOf(otel.spans, first.spanContext().traceId);
    // A's attempt (dispatched before the takeover) ran under A's task span; B traced what it dispatched itself.
    const firstTask = spans.find((s) => s.name === "task a/first")!;
    expect(parentIdOf(childrenOf(spans, firstTask, "attempt ")[0]!)).toBe(firstTask.spanContext().spanId);
    expect(childrenOf(spans, second, "state ").map((s) => s.name)).toEqual(expect.arrayContaining(["state a", "state b"]));
    expect(childrenOf(spans, second, "state ").every((s) => s.attributes["phaseflow.run.resumed"] === true)).toBe(true);
  });
});
