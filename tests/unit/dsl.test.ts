import { describe, expect, test } from "vitest";
import { z } from "zod";
import { isWorkflow, workflow } from "../../src/dsl/workflow.js";

describe("dsl", () => {
  test("dsl - a workflow records its states and tasks in declaration order", () => {
    const wf = workflow("etl", { version: "2", input: z.object({ day: z.string() }) });
    const ingest = wf.state("ingest");
    const report = wf.state("report", { final: true, maxVisits: 3 });
    const a = ingest.task("a", { executor: "etl/a" });
    const b = ingest.task("b", { executor: "etl/b", retries: 2 });
    expect(wf.version).toBe("2");
    expect(wf.states).toEqual([ingest, report]);
    expect(ingest.tasks).toEqual([a, b]);
    expect(b.options).toEqual({ executor: "etl/b", retries: 2 });
    expect(b.id).toBe("ingest/b");
    expect(b.state).toBe(ingest);
    expect(ingest.workflow).toBe(wf);
    expect(report.options).toEqual({ final: true, maxVisits: 3 });
    expect(isWorkflow(wf)).toBe(true);
    expect(isWorkflow({ name: "etl" })).toBe(false);
  });

  test("dsl - then and dependsOn record the same parent edge", () => {
    const s = workflow("w", { version: "1" }).state("s");
    const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => s.task(n, { executor: "ns/x" })) as [ReturnType<typeof s.task>, ReturnType<typeof s.task>, ReturnType<typeof s.task>, ReturnType<typeof s.task>];
    expect(a.then(b)).toBe(b);
    const both = [c, d];
    expect(b.then(both)).toBe(both);
    expect(d.dependsOn(a, c)).toBe(d);
    expect(b.parents).toEqual([a]);
    expect(c.parents).toEqual([b]);
    expect(d.parents).toEqual([b, a, c]);
  });

  test("dsl - transitions and routes are recorded as written, for the compiler to check", () => {
    const wf = workflow("w", { version: "1" });
    const s = wf.state("s");
    const t = wf.state("t");
    const guard = (out: Record<string, unknown>) => out.ok === true;
    expect(s.transition(t, { when: guard, description: "when ok" }).transition(s)).toBe(s);
    expect(s.transitions).toEqual([
      { target: t, when: guard, description: "when ok" },
      { target: s, when: undefined, description: undefined },
    ]);
    const router = t.task("decide", { executor: "ns/decide" });
    t.route(router, { again: s }).route("decide", { done: t });
    expect(t.routes).toEqual([{ router, pathways: { again: s } }, { router: "decide", pathways: { done: t } }]);
  });
});
