import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { InputValidationError, UsageError } from "../../src/errors/base.js";
import { OptionsError } from "../../src/errors/options.js";
import { createEngine } from "../../src/embedded/engine.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import { createMemoryHub } from "../../src/transport/memory/index.js";
import { runRecordSchema } from "../../src/runtime/core/run-record-schema.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { createRegistry } from "../../src/registry/registry.js";
import type { Clock } from "../../src/support/clock.js";
import { createFakeClock } from "../support/fake-clock.js";
import { allEvents, gate, testEngine, type TestEngine } from "../support/runtime-fixtures.js";

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function etl() {
  const wf = workflow("etl", { version: "1", input: z.object({ day: z.string(), rows: z.number().int() }) });
  const ingest = wf.state("ingest");
  const extract = ingest.task("extract", { executor: "etl/extract" });
  const clean = ingest.task("clean", { executor: "etl/clean", input: z.object({ rows: z.array(z.number()) }) });
  const stats = ingest.task("stats", { executor: "etl/stats" });
  extract.then([clean, stats]);
  ingest.task("load", { executor: "etl/load" }).dependsOn(clean, stats);
  return wf;
}

function registerEtl(t: TestEngine, calls: string[] = []) {
  t.registry
    .namespace("etl")
    .register("extract", (input: { rows: number }) => (calls.push("extract"), { rows: Array.from({ length: input.rows }, (_, i) => i) }))
    .register("clean", (input: { rows: number[] }) => (calls.push("clean"), { cleaned: input.rows.length }))
    .register("stats", (input: { rows: number[] }) => (calls.push("stats"), { sum: input.rows.reduce((a, b) => a + b, 0) }))
    .register("load", (input: { cleaned: number; sum: number }) => (calls.push("load"), { loaded: input.cleaned, sum: input.sum }));
  return calls;
}

describe("runtime - engine", () => {
  it("runtime - runs a workflow and its record matches recordOfHistory(history)", async () => {
    t = testEngine({ clock: createFakeClock() });
    registerEtl(t);
    const run = await t.engine.run(etl(), { day: "2024-01-01", rows: 4 });
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual({ loaded: 4, sum: 6 });
    expect(record.workflow).toBe("etl");
    expect(record.input).toEqual({ day: "2024-01-01", rows: 4 });
    expect(record.tasks.map((task) => [task.id, task.status, task.attempts])).toEqual([
      ["ingest/extract", "succeeded", 1],
      ["ingest/clean", "succeeded", 1],
      ["ingest/stats", "succeeded", 1],
      ["ingest/load", "succeeded", 1],
    ]);
    expect(runRecordSchema.safeParse(record).success).toBe(true);
    expect(recordOfHistory(await t.history(run.runId))).toEqual(record);
    expect(run.status()).toEqual(record);
    // events() replays the run as decided, the same events a reader folds from the history, and ends with the run.
    const history = await t.events(run.runId);
    const replayed = await allEvents(run);
    expect(replayed.map((e) => e.type)).toEqual(history.map((e) => e.type));
    expect(replayed.at(-1)?.type).toBe("run.succeeded");
  });

  it("runtime - the live record and the record folded from the history agree on every time, however the clock moves between deciding and storing", async () => {
    // A clock that ticks on every read: a decision is stored a few ms after it was decided.
    let now = 1_000_000;
    const ticking: Clock = { now: () => (now += 1), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
    t = testEngine({ clock: ticking });
    registerEtl(t);
    const run = await t.engine.run(etl(), { day: "d", rows: 2 });
    const record = await run.result();
    const folded = recordOfHistory(await t.history(run.runId));
    const times = (r: typeof record) => ({ startedAt: r.startedAt, finishedAt: r.finishedAt, states: r.states.map((s) => [s.enteredAt, s.exitedAt]), tasks: r.tasks.map((task) => task.finishedAt) });
    expect(times(record)).toEqual(times(folded));
  });

  it("runtime - the hot path stores two messages per task: its report, and its share of one decision per phase", async () => {
    t = testEngine();
    registerEtl(t);
    const run = await t.engine.run(etl(), { day: "d", rows: 3 });
    expect((await run.result()).status).toBe("succeeded");
    const stored = await t.history(run.runId);
    const reports = stored.filter((m) => m.message.kind === "report");
    const decisions = stored.flatMap((m) => (m.message.kind === "decision" ? [m.message] : []));
    expect(reports).toHaveLength(4);
    // Phases [extract], [clean, stats], [load], then the end: at most one decision each, clean and stats in the same one.
    expect(decisions.length).toBeLessThanOrEqual(4);
    const dispatchedIn = decisions.map((d) => d.events.flatMap((e) => (e.type === "task.dispatched" ? [e.task] : [])));
    expect(dispatchedIn.some((tasks) => tasks.includes("clean") && tasks.includes("stats"))).toBe(true);
    // A success without an output schema is the report itself: no task.succeeded is stored, nor attempt.started.
    const types = decisions.flatMap((d) => d.events.map((e) => e.type));
    expect(types).not.toContain("task.succeeded");
    expect(types.filter((type) => type === "task.dispatched")).toHaveLength(4);
    // Each decision names the last report its writer had applied.
    const seqs = reports.map((m) => m.seq);
    for (const d of decisions) expect(d.through === 0 || seqs.includes(d.through)).toBe(true);
  });

  it("runtime - invalid workflow input rejects engine.run with InputValidationError and dispatches nothing", async () => {
    t = testEngine();
    const calls = registerEtl(t);
    const err: unknown = await t.engine.run(etl(), { day: 5, rows: 1.5 } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputValidationError);
    const issues = (err as InputValidationError).issues.map((i) => i.path.join("."));
    expect(issues.sort()).toEqual(["day", "rows"]);
    expect((err as InputValidationError).code).toBe("INPUT_INVALID");
    expect(t.hub.stats()).toMatchObject({ runs: 0, queued: 0 });
    expect(calls).toEqual([]);
  });

  it("runtime - a task input that fails its declared schema fails the task before dispatch", async () => {
    t = testEngine();
    const calls: string[] = [];
    t.registry
      .namespace("etl")
      .register("extract", () => (calls.push("extract"), { rows: "oops" }))
      .register("clean", () => (calls.push("clean"), {}))
      .register("stats", () => (calls.push("stats"), {}))
      .register("load", () => (calls.push("load"), {}));
    const record = await (await t.engine.run(etl(), { day: "d", rows: 1 }, { onFailure: "continue" })).result();
    expect(record.status).toBe("failed");
    const clean = record.tasks.find((task) => task.task === "clean");
    expect(clean).toMatchObject({ status: "failed", attempts: 0 });
    expect(clean?.error?.code).toBe("TASK_INPUT_INVALID");
    expect(calls.sort()).toEqual(["extract", "stats"]);
    expect(record.tasks.find((task) => task.task === "load")?.status).toBe("skipped");
  });

  it("runtime - a state output that fails the state's schema fails the run", async () => {
    t = testEngine();
    t.registry.namespace("t").register("one", () => ({ n: "x" }));
    const wf = workflow("stateout", { version: "1" });
    wf.state("s", { output: z.object({ n: z.number() }) }).task("one", { executor: "t/one" });
    const record = await (await t.engine.run(wf, {})).result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("STATE_OUTPUT_INVALID");
  });

  it("runtime - on() sees each later event, and an explicit runId is used", async () => {
    t = testEngine();
    registerEtl(t);
    const run = await t.engine.run(etl(), { day: "d", rows: 2 }, { runId: "my-run-1" });
    expect(run.runId).toBe("my-run-1");
    const seen: RunEvent[] = [];
    const off = run.on((e) => seen.push(e));
    await run.result();
    off();
    expect(seen.at(-1)?.type).toBe("run.succeeded");
    expect(seen.every((e) => e.runId === "my-run-1")).toBe(true);
    await expect(t.engine.run(etl(), { day: "d", rows: 2 }, { runId: "my-run-1" })).rejects.toBeInstanceOf(UsageError);
    await expect(t.engine.run(etl(), { day: "d", rows: 2 }, { runId: "bad.id" })).rejects.toBeInstanceOf(OptionsError);
  });

  it("runtime - the embedded engine needs no transport and closes cleanly", async () => {
    const registry = createRegistry();
    registry.namespace("t").register("hello", (input: { name: string }) => ({ greeting: `hello ${input.name}` }));
    const wf = workflow("hello", { version: "1", input: z.object({ name: z.string() }) });
    wf.state("greet").task("hello", { executor: "t/hello" });
    const engine = createEngine({ registry });
    try {
      const record = await (await engine.run(wf, { name: "ada" })).result();
      expect(record.output).toEqual({ greeting: "hello ada" });
    } finally {
      await engine.close();
    }
    await expect(engine.run(wf, { name: "x" })).rejects.toBeInstanceOf(UsageError);
  });

  it("runtime - closing the engine mid-run rejects the run's result with ENGINE_CLOSED", async () => {
    const local = testEngine();
    const started = gate();
    local.registry.namespace("t").register("hang", () => {
      started.open();
      return new Promise(() => undefined);
    });
    const wf = workflow("hang", { version: "1" });
    wf.state("s").task("hang", { executor: "t/hang" });
    const run = await local.engine.run(wf, {});
    await started.opened;
    await local.close();
    await expect(run.result()).rejects.toMatchObject({ code: "ENGINE_CLOSED" });
  });

  it("runtime - createEngine accepts a transport it is given (memory hub connection), with or without a worker", async () => {
    const hub = createMemoryHub();
    try {
      expect(() => createEngine({ transport: hub.connect(), worker: false })).not.toThrow();
      expect(() => createEngine({ registry: createRegistry(), transport: hub.connect(), worker: true })).not.toThrow();
      expect(() => createEngine({ transport: { kind: "fake" } as never, worker: false })).toThrow(/must be a Transport/);
    } finally {
      await hub.close();
    }
  });

  it("runtime - createEngine rejects bad options with an OptionsError", () => {
    expect(() => createEngine({ registry: createRegistry(), concurrency: 0 })).toThrow(OptionsError);
    expect(() => createEngine({})).toThrow(/needs a registry/);
  });
});
