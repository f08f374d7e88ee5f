import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import type { TaskContext } from "../../src/registry/types.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { InstanceTable, StringTable } from "../../src/runtime/core/map-instances.js";
import type { TaskRecord } from "../../src/runtime/core/run-record-schema.js";
import { estimateBytes } from "../../src/runtime/core/record-size.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { recordOfHistory, runRecordOf, snapshotRunRecord, summaryOf } from "../../src/runtime/core/run-record.js";
import { createRunState, evolve, foldEvents, taskRecordOf } from "../../src/runtime/core/run-state.js";
import type { RunEvent, StoredMessage } from "../../src/transport/messages.js";
import { testEngine } from "../support/runtime-fixtures.js";

/** plan -> run (a map) -> agg, with `side` beside the map, so plain records and instances interleave in the record. */
function studyWorkflow(n: number) {
  const wf = workflow(`map-compact-${n}`, { version: "1" });
  const s = wf.state("s");
  const plan = s.task("plan", { executor: "m/plan" });
  const run = s.map("run", { executor: "m/run", items: (inp: { cells: number[] }) => inp.cells, maxConcurrency: 64, retries: 1, backoff: { initialMs: 1, maxMs: 1 }, toleratedFailures: 0.05 });
  const side = s.task("side", { executor: "m/side" });
  const agg = s.task("agg", { executor: "m/agg" });
  plan.then(run).then(agg);
  plan.then(side);
  return wf;
}

function fold(messages: readonly StoredMessage[], compact: boolean, model?: Parameters<typeof createRunState>[1]) {
  const events = historyEvents(messages);
  return foldEvents(createRunState(events[0]!.runId, model, { compact }), events);
}

describe("runtime - compact map instances", () => {
  it("runtime - the record of a compact fold equals the plain fold's, instance by instance and in the same order", async () => {
    const n = 600;
    const wf = studyWorkflow(n);
    const t = testEngine({ concurrency: 64 });
    const ns = t.registry.namespace("m");
    ns.register("plan", () => ({ cells: Array.from({ length: n }, (_, i) => i) }));
    ns.register("side", () => "beside");
    ns.register("agg", (inp: { run: unknown[] }) => inp.run.length);
    ns.register("run", (i: number, ctx: TaskContext) => {
      if (i % 40 === 3) throw new NonRetryableError(`cell ${i} is bad`); // tolerated: 15 of 600
      if (i % 7 === 0 && ctx.attempt === 1) throw new Error(`cell ${i} flaked`); // retried once
      return i % 11 === 0 ? undefined : { i };
    });
    try {
      const handle = await t.engine.run(wf, {});
      const result = await handle.result();
      expect(result.status).toBe("succeeded");
      const history = await t.history(result.runId);
      const plain = recordOfHistory(history);
      // The coordinator folded compactly: its result is what a plain reader folds from the history.
      expect(result).toEqual(plain);
      expect(JSON.stringify(result)).toBe(JSON.stringify(plain));
      const compact = fold(history, true);
      expect(runRecordOf(compact)).toEqual(plain);
      expect(JSON.stringify(runRecordOf(compact, { snapshot: true }))).toBe(JSON.stringify(plain));
      // Cut anywhere (instances in flight, retrying, settled), the two folds agree.
      const events = historyEvents(history);
      for (const share of [0.1, 0.3, 0.5, 0.7, 0.9]) {
        const cut = events.slice(0, Math.floor(events.length * share));
        const [c, p] = [true, false].map((compact) => foldEvents(createRunState(result.runId, undefined, { compact }), cut));
        expect(runRecordOf(c!)).toEqual(p!.record);
        expect(summaryOf(c!)).toEqual(summaryOf(p!));
      }
      // Counted in the columns, without building the records: the same summary.
      expect(summaryOf(compact)).toEqual(summaryOf({ record: plain, compact: undefined }));
      expect(summaryOf(compact).tasks).toEqual({ total: n + 4, succeeded: n + 4 - 15, failed: 15, running: 0 });
      expect(handle.summary()).toEqual(summaryOf(compact));
      expect(t.engine.summary(result.runId)).toEqual(summaryOf(compact)); // from the finished run's kept columns
      expect(t.engine.get(result.runId)).toEqual(plain);
      // The finished run is kept as its columns: its estimate is a fraction of the records'.
      expect(t.engine.kept().runs).toBe(1);
      expect(t.engine.kept().bytes).toBeLessThan(estimateBytes(plain) / 3);
      const failed = plain.tasks.find((x) => x.task === "run[3]")!;
      expect(failed).toMatchObject({ status: "failed", map: "run", index: 3, error: { message: "cell 3 is bad" } });
      expect(taskRecordOf(compact, "s", 1, "run[3]")).toEqual(failed);
      expect(taskRecordOf(compact, "s", 1, "run[7]")).toMatchObject({ status: "succeeded", attempts: 2, output: { i: 7 } });
      expect(taskRecordOf(compact, "s", 1, "run[11]")).toMatchObject({ status: "succeeded", output: null }); // an executor returning nothing reports null
      // "side" was dispatched among the instances: the order was kept across plain records and columns.
      const names = plain.tasks.map((x) => x.task);
      expect(names.indexOf("side")).toBeGreaterThan(names.indexOf("run[0]"));
      expect(names.indexOf("side")).toBeLessThan(names.indexOf("run[599]"));
    } finally {
      await t.close();
    }
  });

  it("runtime - a re-run of a failed map starts its instances over in the columns, attempts and places kept", async () => {
    const n = 300;
    const wf = workflow("map-compact-rerun", { version: "1" });
    wf.state("s").map("run", { executor: "m/run", items: () => Array.from({ length: n }, (_, i) => i), maxConcurrency: 16 });
    const t = testEngine({ concurrency: 16 });
    let go = 1;
    t.registry.namespace("m").register("run", (i: number) => {
      if (go === 1 && i === 250) throw new NonRetryableError("bad cell");
      return { i, go };
    });
    try {
      const first = await (await t.engine.run(wf, {})).result();
      expect(first.status).toBe("failed");
      go = 2;
      const again = await (await t.engine.retry(wf, await t.history(first.runId))).result();
      expect(again.status).toBe("succeeded");
      const history = await t.history(first.runId);
      const plain = recordOfHistory(history);
      expect(again).toEqual(plain);
      const compact = fold(history, true, runModelOf(compile(wf), wf));
      expect(runRecordOf(compact)).toEqual(plain);
      expect(taskRecordOf(compact, "s", 1, "run[250]")).toMatchObject({ status: "succeeded", attempts: 2, output: { i: 250, go: 2 } });
      expect((plain.output as { run: { go: number }[] }).run.every((o) => o.go === 2 || o.go === 1)).toBe(true);
      expect(compact.tasks.size).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("runtime - an instance's stored record comes back the same, whatever fits no column (kept aside) and in its key order", () => {
    const table = new InstanceTable("r1", "s", 1, "run", new StringTable(), 8);
    const base = (k: number): TaskRecord => ({ id: `s/run[${k}]`, state: "s", visit: 1, task: `run[${k}]`, status: "succeeded", attempts: 1, executor: "m/run", dispatchId: `r1/s/1/run[${k}]/1`, map: "run", index: k });
    const records: TaskRecord[] = [
      { ...base(0), workerId: "w1", durationMs: 12, output: { i: 0 }, finishedAt: 1_800_000_000_000 },
      { ...base(1), startedAt: 1_800_000_000_005, workerId: "w2", durationMs: 0.25, output: null, finishedAt: 1_799_000_000_000 }, // a fractional duration, a time far before the first
      { ...base(2), status: "failed", attempts: 70_000, dispatchId: "r1/s/1/run[2]/70000", error: { name: "Error", code: "BOOM", message: "no", retryable: true }, progress: { done: 3, total: 9 }, redeliveries: 2 },
      { ...base(3), status: "cancelled", reason: "map failed", dispatchId: "elsewhere", output: "kept aside" },
      { id: "s/run[4]", state: "s", visit: 1, task: "run[4]", status: "pending", attempts: 0, map: "run", index: 4 },
    ];
    records.forEach((r, k) => table.store(k, r));
    records.forEach((r, k) => {
      expect(table.record(k)).toEqual(r);
      expect(JSON.stringify(table.record(k))).toBe(JSON.stringify(r));
    });
    expect(table.record(5)).toBeUndefined();
    expect(table.live.size).toBe(0);
    // The map's output is the outputs array itself; a later change copies it first.
    const out = table.mapOutput(8);
    expect(out.slice(0, 4)).toEqual([{ i: 0 }, null, null, null]);
    table.store(0, { ...base(0), output: { i: 100 } });
    expect(out[0]).toEqual({ i: 0 });
    expect(table.mapOutput(8)[0]).toEqual({ i: 100 });
  });

  it("runtime - a snapshot of the record (handle.status()) keeps its map counts and signals as they were, compact or plain", () => {
    const at = 1_000;
    const ref = { runId: "r1", at, state: "s", visit: 1 };
    const done = (k: number): RunEvent => ({ ...ref, type: "task.succeeded", task: `run[${k}]`, attempt: 1, dispatchId: `r1/s/1/run[${k}]/1`, output: k });
    const signal = (seq: number): RunEvent => ({ runId: "r1", at, type: "signal.received", name: "go", id: `sig-${seq}`, payload: seq, seq });
    const start: RunEvent[] = [{ ...ref, type: "map.items", task: "run", count: 3, tolerated: 0, from: 0, items: [0, 1, 2] }, done(0), signal(1)];
    for (const compact of [true, false]) {
      const st = foldEvents(createRunState("r1", undefined, { compact }), start);
      const snapshot = compact ? runRecordOf(st, { snapshot: true }) : snapshotRunRecord(st.record);
      const text = JSON.stringify(snapshot);
      expect(snapshot.tasks.find((t) => t.task === "run")!.instances).toMatchObject({ count: 3, succeeded: 1 });
      for (const e of [done(1), done(2), signal(2)]) evolve(st, e);
      // The run went on (the map succeeded, a second signal came): the snapshot did not.
      expect(runRecordOf(st).tasks.find((t) => t.task === "run")).toMatchObject({ status: "succeeded", instances: { succeeded: 3 } });
      expect(JSON.stringify(snapshot), compact ? "compact" : "plain").toBe(text);
      expect(snapshot.signals).toHaveLength(1);
    }
  });
});
