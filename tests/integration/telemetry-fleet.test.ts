// OpenTelemetry of a fleet run on a real nats-server: a coordinator service and a NATS
// worker in this process, sharing its registered SDK, exchange the task messages over
// JetStream. The run yields the span tree run -> state -> task -> attempt, the
// attempt span's parent is the task span named by the message's `traceparent` header
// (read off the wire by a plain subscriber), a run started inside a span is its child,
// and the counters match the run record.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { SpanStatusCode, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";
import { parseTraceparent } from "../../src/telemetry/otel.js";
import { childrenOf, installTestTelemetry, parentIdOf, spansOf, type TestTelemetry } from "../support/otel.js";

const url = inject("natsUrl");
const PREFIX = "otelf";

const wf = workflow("otel-fleet", { version: "1" });
const prepare = wf.state("prepare");
const split = prepare.task("split", { executor: "otelf/echo" });
const flaky = prepare.task("flaky", { executor: "otelf/flaky", retries: 2, backoff: { initialMs: 1, maxMs: 1 } });
split.then(flaky);
const finish = wf.state("finish");
finish.task("join", { executor: "otelf/echo" });
prepare.transition(finish);

const registry = createRegistry();
registry.namespace("otelf").register("echo", (input: unknown) => ({ echoed: input ?? null }));
registry.namespace("otelf").register("flaky", (_input: unknown, ctx) => {
  if (ctx.attempt === 1) throw Object.assign(new Error("flaky once"), { code: "FLAKY" });
  return { ok: true };
});

interface Wired {
  subject: string;
  traceparent: string;
  bodyHasTrace: boolean;
  dispatchId: string;
}

describe("fleet - OpenTelemetry", () => {
  let otel: TestTelemetry;
  let service: CoordinatorService;
  let worker: NatsWorker;
  let client: Client;
  let tap: NatsConnection;
  const wired: Wired[] = [];

  beforeAll(async () => {
    otel = installTestTelemetry();
    // A plain core subscriber on the task subjects sees each task message as published.
    tap = await connect({ servers: url });
    tap.subscribe(`${PREFIX}.task.>`, {
      callback: (err, msg) => {
        if (err) return;
        const body = msg.json<Record<string, unknown>>();
        wired.push({ subject: msg.subject, traceparent: msg.headers?.get("traceparent") ?? "", bodyHasTrace: "traceparent" in body, dispatchId: String(body.dispatchId) });
      },
    });
    await tap.flush();
    service = await startCoordinatorService({ nats: { servers: url, prefix: PREFIX }, workflows: [wf] });
    worker = await startNatsWorker({ nats: { servers: url, prefix: PREFIX }, registry, workerId: "otel-worker" });
    client = await createClient({ servers: url, prefix: PREFIX });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop();
    await service?.close();
    await tap?.close();
    await otel?.shutdown();
  }, 60_000);

  it("fleet - a run yields run -> state -> task -> attempt spans, the attempt's parent carried by the traceparent header", async () => {
    const { runId } = await client.start("otel-fleet", {});
    await client.waitForEnd(runId);
    const record = await client.get(runId);
    expect(record.status).toBe("succeeded");

    const root = otel.spans.getFinishedSpans().find((s) => s.name === "run otel-fleet" && s.attributes["phaseflow.run.id"] === runId)!;
    expect(root).toBeDefined();
    expect(root.status.code).toBe(SpanStatusCode.OK);
    const traceId = root.spanContext().traceId;
    const spans = spansOf(otel.spans, traceId);
    const states = childrenOf(spans, root, "state ");
    expect(states.map((s) => s.name).sort()).toEqual(["state finish", "state prepare"]);
    const tasks = states.flatMap((s) => childrenOf(spans, s, "task "));
    expect(tasks.map((s) => s.name).sort()).toEqual(["task finish/join", "task prepare/flaky", "task prepare/split"]);

    // Each task message went out with its task span in a traceparent header, and not in its body.
    const ours = wired.filter((w) => w.dispatchId.startsWith(`${runId}/`));
    expect(ours).toHaveLength(4);
    for (const w of ours) {
      expect(w.bodyHasTrace).toBe(false);
      expect(w.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    }
    const attempts = spans.filter((s) => s.name.startsWith("attempt "));
    expect(attempts).toHaveLength(4);
    for (const a of attempts) {
      const dispatchId = String(a.attributes["phaseflow.dispatch.id"]);
      const header = parseTraceparent(ours.find((w) => w.dispatchId === dispatchId)?.traceparent);
      expect(header?.traceId).toBe(traceId);
      // The attempt span's parent is exactly the span named on the wire: its task's span.
      expect(parentIdOf(a)).toBe(header?.spanId);
      expect(a.parentSpanContext?.isRemote).toBe(true);
      const task = tasks.find((s) => s.spanContext().spanId === header?.spanId)!;
      expect(task.attributes["phaseflow.task.id"]).toBe(a.attributes["phaseflow.task.id"]);
      expect(a.attributes).toMatchObject({ "phaseflow.worker.id": "otel-worker", "phaseflow.run.id": runId, "phaseflow.workflow": "otel-fleet" });
    }
    const failed = attempts.find((s) => s.attributes["phaseflow.status"] === "failed")!;
    expect(failed.attributes).toMatchObject({ "phaseflow.task.id": "prepare/flaky", "phaseflow.attempt": 1, "phaseflow.error.code": "FLAKY" });
  }, 60_000);

  it("fleet - a run started from inside a span is traced as that span's child (the start request carries it)", async () => {
    const tracer = trace.getTracer("test");
    const runId = await tracer.startActiveSpan("request handler", async (span) => {
      try {
        return (await client.start("otel-fleet", {})).runId;
      } finally {
        span.end();
      }
    });
    await client.waitForEnd(runId);
    const caller = otel.spans.getFinishedSpans().find((s) => s.name === "request handler")!;
    const root = otel.spans.getFinishedSpans().find((s) => s.name === "run otel-fleet" && s.attributes["phaseflow.run.id"] === runId)!;
    expect(root.spanContext().traceId).toBe(caller.spanContext().traceId);
    expect(parentIdOf(root)).toBe(caller.spanContext().spanId);
  }, 60_000);

  it("fleet - the coordinator's counters match the run record", async () => {
    const wfAttr = { "phaseflow.workflow": "otel-fleet" };
    const before = {
      dispatched: await otel.sum("phaseflow.tasks.dispatched", wfAttr),
      succeeded: await otel.sum("phaseflow.tasks.succeeded", wfAttr),
      retried: await otel.sum("phaseflow.tasks.retried", wfAttr),
      durations: await otel.count("phaseflow.attempt.duration", wfAttr),
    };
    const { runId } = await client.start("otel-fleet", {});
    await client.waitForEnd(runId);
    const record = await client.get(runId);
    expect(record.status).toBe("succeeded");
    const attempts = record.tasks.reduce((n, t) => n + t.attempts, 0);
    expect(await otel.sum("phaseflow.tasks.dispatched", wfAttr)).toBe(before.dispatched + attempts);
    expect(await otel.sum("phaseflow.tasks.succeeded", wfAttr)).toBe(before.succeeded + record.tasks.filter((t) => t.status === "succeeded").length);
    expect(await otel.sum("phaseflow.tasks.retried", wfAttr)).toBe(before.retried + attempts - record.tasks.length);
    expect(await otel.sum("phaseflow.tasks.failed", wfAttr)).toBe(0);
    expect(await otel.count("phaseflow.attempt.duration", wfAttr)).toBe(before.durations + attempts);
    // The run stops counting as active once its coordinator let it go (just after its end is stored).
    await vi.waitFor(async () => expect(await otel.sum("phaseflow.runs.active", wfAttr)).toBe(0), { timeout: 30_000 });
  }, 60_000);
});
