// The example executors do real work: checked here on small hand-worked inputs and
// against published reference values, independent of the examples' own expectations.
import { describe, expect, it } from "vitest";
import type { Registry } from "../../src/registry/registry.js";
import type { Logger, TaskContext } from "../../src/registry/types.js";
import { fnv1a, mulberry32 } from "../../workers/lib/prng.js";
import { diagnose, insertionSort, mergeSort, runProgram, solve } from "../../workers/lib/sorting.js";
import { CSV_HEADER, registry as etl } from "../../workers/etl.js";
import { bestLabel, verdict } from "../../workers/review.js";
import { cellsOf, estimate, simpson } from "../../workers/study.js";

const noop = (): void => undefined;
const log: Logger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, child: () => log };
const ctx = (task: string, parents: Record<string, unknown> = {}): TaskContext => ({
  runId: "r", taskId: `s/${task}`, state: "s", task, visit: 1, attempt: 1, signal: new AbortController().signal,
  log, parents, idempotencyKey: "k", params: undefined, seed: 0, item: undefined, progress: noop, heartbeat: noop,
});
const call = async (registry: Registry, key: string, input: unknown, task = "t") => registry.resolve(key).fn(input, ctx(task));

describe("examples - shared PRNG", () => {
  it("examples - mulberry32 and fnv1a match their published reference values", () => {
    const rng = mulberry32(1);
    expect(rng()).toBe(0.6270739405881613);
    expect(rng()).toBe(0.002735721180215478);
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });
});

describe("examples - etl executors", () => {
  const csv = [CSV_HEADER, "o00001,acme,10.00", "o00002,,5.00", "o00001,acme,10.00", "o00003,hooli,n/a", "o00004,stark,2.50", ""].join("\n");
  const extracted = { day: "2026-11-01", csv };

  it("examples - etl clean keeps valid rows and counts the rejected ones", async () => {
    const out = (await call(etl, "etl/clean", extracted)) as { rows: { id: string }[]; rejected: number };
    expect(out.rows.map((r) => r.id)).toEqual(["o00001", "o00001", "o00004"]);
    expect(out.rejected).toBe(2);
  });

  it("examples - etl dedupe, stats and load agree on a hand-worked day", async () => {
    const cleaned = await call(etl, "etl/clean", extracted);
    const deduped = await call(etl, "etl/dedupe", extracted);
    const stats = await call(etl, "etl/stats", extracted);
    expect(deduped).toEqual({ duplicates: 1, duplicateIds: ["o00001"] });
    expect(stats).toEqual({ stats: { count: 2, mean: 6.25, min: 2.5, max: 10 } });
    const loaded = await call(etl, "etl/load", { ...(cleaned as object), ...(deduped as object), ...(stats as object) });
    expect(loaded).toMatchObject({ day: "2026-11-01", loaded: 2, rejected: 2, duplicates: 1 });
    const report = (await call(etl, "etl/summarize", loaded)) as { summary: string };
    expect(report.summary).toMatch(/^2026-11-01: loaded 2 orders \(2 rejected, 1 duplicates\); amount mean 6\.25, min 2\.50, max 10\.00; checksum [0-9a-f]{8}$/);
  });

  it("examples - etl extract is deterministic in its seed", async () => {
    const a = await call(etl, "etl/extract", { day: "2026-11-01", rows: 50, seed: 3 });
    const b = await call(etl, "etl/extract", { day: "2026-11-01", rows: 50, seed: 3 });
    const c = await call(etl, "etl/extract", { day: "2026-11-01", rows: 50, seed: 4 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect((a as { csv: string }).csv.split("\n")).toHaveLength(52);
  });
});

describe("examples - review helpers", () => {
  it("examples - review labels by keyword and skips rejected labels", () => {
    expect(bestLabel("the app crashes with an error", []).label).toBe("bug");
    expect(bestLabel("how do I add a new option?", []).label).toBe("feature");
    expect(bestLabel("how do I add a new option?", ["feature"]).label).toBe("question");
  });

  it("examples - review escalates instead of rejecting a fourth label", () => {
    for (let visit = 1; visit < 50; visit++) {
      expect(verdict("some text", "bug", visit, 3).pathway).not.toBe("reject");
    }
  });
});

describe("examples - study helpers", () => {
  const linear = (x: number) => x;

  it("examples - study simpson integrates a cubic exactly", () => {
    expect(simpson((x) => x ** 3, 10)).toBeCloseTo(0.25, 14);
  });

  it("examples - study antithetic and control estimators are exact for a linear integrand", () => {
    expect(estimate("antithetic", linear, 1000, mulberry32(5))).toBeCloseTo(0.5, 12);
    expect(estimate("control", linear, 1000, mulberry32(5))).toBeCloseTo(0.5, 12);
    expect(Math.abs(estimate("plain", linear, 1000, mulberry32(5)) - 0.5)).toBeGreaterThan(1e-6);
  });

  it("examples - study lists the grid's cells from the plan's params, estimator first", () => {
    const cells = cellsOf("sqrt", { estimators: ["plain", "control"], sampleSizes: [10, 20], replicates: 2 });
    expect(cells).toHaveLength(8);
    expect(cells[0]).toEqual({ integrand: "sqrt", estimator: "plain", samples: 10, replicate: 1 });
    expect(cells[3]).toEqual({ integrand: "sqrt", estimator: "plain", samples: 20, replicate: 2 });
    expect(cells[4]!.estimator).toBe("control");
  });
});

describe("examples - agents helpers", () => {
  it("examples - agents sorting algorithms agree with the reference on random lists", () => {
    const rng = mulberry32(11);
    for (let i = 0; i < 50; i++) {
      const xs = Array.from({ length: Math.floor(rng() * 12) }, () => Math.floor(rng() * 10));
      const desc = (a: number, b: number) => b - a;
      expect(mergeSort(xs, desc)).toEqual([...xs].sort(desc));
      expect(insertionSort(xs, desc)).toEqual([...xs].sort(desc));
      expect(runProgram({ algorithm: "merge", spec: { order: "asc", key: "value", unique: true }, source: "" }, xs)).toEqual(solve("unique-asc", xs));
    }
  });

  it("examples - agents diagnose the first symptom of a failure", () => {
    const spec = { order: "asc", key: "value", unique: false } as const;
    expect(diagnose(spec, { expected: [1, 2, 3], got: [1, 1, 2, 3] })).toEqual({ ...spec, unique: true });
    expect(diagnose(spec, { expected: [1, 2, 3], got: [3, 2, 1] })).toEqual({ ...spec, order: "desc" });
    expect(diagnose(spec, { expected: ["a", "to", "fig"], got: ["a", "fig", "to"] })).toEqual({ ...spec, key: "length" });
  });
});
