import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import { z } from "zod";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type TaskOptions } from "../../src/dsl/workflow.js";
import { canonicalJson, computePlanHash, planHashView } from "../../src/plan/hash.js";
import { planSchema } from "../../src/plan/schema.js";

interface Variant {
  retries?: number;
  executor?: `${string}/${string}`;
  extraEdge?: boolean;
  guard?: (out: { n: number }) => boolean;
  timeoutMs?: number;
  output?: z.ZodType;
}

/** The same definition every call: a fresh object graph, equal content. */
function define(v: Variant = {}) {
  const wf = workflow("etl", { version: "1", input: z.object({ day: z.string() }) });
  const ingest = wf.state("ingest", { output: z.object({ n: z.number() }) });
  const extractOptions: TaskOptions<unknown, unknown> = { executor: v.executor ?? "etl/extract", output: v.output ?? z.object({ rows: z.array(z.number()) }) };
  const extract = ingest.task("extract", extractOptions);
  const clean = ingest.task("clean", { executor: "etl/clean", retries: v.retries ?? 3, timeoutMs: v.timeoutMs ?? 30_000 });
  const stats = ingest.task("stats", { executor: "etl/stats" });
  const load = ingest.task("load", { executor: "etl/load" });
  extract.then([clean, stats]);
  load.dependsOn(clean);
  if (v.extraEdge === true) load.dependsOn(stats);
  const report = wf.state("report");
  report.task("publish", { executor: "etl/publish" });
  ingest.transition(report, { when: v.guard ?? ((out) => out.n > 0) });
  ingest.transition(wf.state("empty", { final: true }));
  return wf;
}

describe("plan - planHash", () => {
  test("plan - hash is stable across separately built equal definitions", () => {
    const a = compile(define());
    const b = compile(define());
    expect(a).not.toBe(b);
    expect(a.planHash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.planHash).toBe(a.planHash);
    expect(b).toEqual(a);
  });

  test.each<[string, Variant]>([
    ["a retry count", { retries: 4 }],
    ["an executor", { executor: "etl/extract2" }],
    ["an edge", { extraEdge: true }],
    ["a guard", { guard: (out) => out.n > 1 }],
    ["a timeout", { timeoutMs: 60_000 }],
    ["a schema", { output: z.object({ rows: z.array(z.string()) }) }],
  ])("plan - hash changes when %s changes", (_what, variant) => {
    expect(compile(define(variant)).planHash).not.toBe(compile(define()).planHash);
  });

  test("plan - every compiled plan passes planSchema", () => {
    for (const v of [{}, { extraEdge: true }, { retries: 0 }] satisfies Variant[]) {
      const plan = compile(define(v));
      expect(planSchema.parse(plan)).toEqual(plan);
    }
  });

  test("plan - hash is the sha-256 of the canonical hash view, and survives a JSON round trip", () => {
    const plan = compile(define());
    const expected = createHash("sha256").update(canonicalJson(planHashView(plan))).digest("hex");
    expect(computePlanHash(plan)).toBe(expected);
    expect(plan.planHash).toBe(expected);
    const wire = planSchema.parse(JSON.parse(JSON.stringify(plan)));
    expect(computePlanHash(wire)).toBe(plan.planHash);
  });

  test("plan - the hash view leaves out only what the compiler derives", () => {
    const view = planHashView(compile(define())) as { states: { tasks: Record<string, unknown>[] }[] } & Record<string, unknown>;
    expect(view.planHash).toBeUndefined();
    expect(Object.keys(view.states[0]!).sort()).toEqual(["description", "edges", "final", "initial", "maxVisits", "name", "outputSchema", "route", "tasks", "transitions"]);
    expect(Object.keys(view.states[0]!.tasks[0]!).sort()).toEqual(["backoff", "description", "executor", "inputSchema", "name", "outputSchema", "retries", "timeoutMs"]);
  });

  test("plan - canonicalJson sorts keys at every depth and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 3, c: undefined, e: null }], s: ["x", "y"] })).toBe('{"a":[2,{"d":3,"e":null}],"b":1,"s":["x","y"]}');
    expect(canonicalJson({})).toBe("{}");
    expect(canonicalJson([])).toBe("[]");
  });
});
