import { describe, expect, test } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { WorkflowValidationError } from "../../src/errors/validation.js";
import { compile } from "../../src/compiler/compile.js";
import { issuesOf } from "./compiler-helpers.js";

function chainWorkflow(names: string[]) {
  const wf = workflow("w", { version: "1" });
  const s = wf.state("s");
  return { wf, s, tasks: names.map((n) => s.task(n, { executor: "ns/x" })) };
}

describe("compiler - cycles and collected issues", () => {
  test("compiler - reports the cycle path in order", () => {
    const { wf, tasks } = chainWorkflow(["a", "b", "c"]);
    const [a, b, c] = tasks as [typeof tasks[0], typeof tasks[0], typeof tasks[0]];
    a.then(b).then(c).then(a);
    const [issue] = issuesOf(wf);
    expect(issue).toMatchObject({ code: "CYCLE", path: "w/s" });
    expect(issue!.message).toContain("form a cycle: a -> b -> c -> a;");
  });

  test("compiler - reports a self-loop as a -> a", () => {
    const { wf, tasks } = chainWorkflow(["a", "b"]);
    tasks[0]!.then(tasks[0]!);
    tasks[0]!.then(tasks[1]!);
    const issues = issuesOf(wf);
    expect(issues).toHaveLength(1);
    expect(issues[0]!.message).toContain("form a cycle: a -> a;");
  });

  test("compiler - reports the cycle, not the tasks merely downstream of it", () => {
    const { wf, tasks } = chainWorkflow(["root", "x", "y", "z", "tail"]);
    const [root, x, y, z, tail] = tasks as [typeof tasks[0], typeof tasks[0], typeof tasks[0], typeof tasks[0], typeof tasks[0]];
    root.then(x);
    tail.dependsOn(x);
    x.then(y).then(z).then(y);
    expect(issuesOf(wf)[0]!.message).toContain("y -> z -> y");
  });

  test("compiler - finds a cycle at the end of a 100,000-task chain without overflowing the stack", () => {
    const n = 100_000;
    const { wf, tasks } = chainWorkflow(Array.from({ length: n }, (_, i) => `t${i}`));
    for (let i = 1; i < n; i++) tasks[i]!.dependsOn(tasks[i - 1]!);
    tasks[n - 3]!.dependsOn(tasks[n - 1]!);
    expect(issuesOf(wf)[0]!.message).toContain(`t${n - 3} -> t${n - 2} -> t${n - 1} -> t${n - 3};`);
  });

  test("compiler - collects every issue of a workflow into one throw", () => {
    const wf = workflow("w", { version: "1" });
    const s = wf.state("s");
    const a = s.task("a", { executor: "ns/a", retries: 1.5 });
    const b = s.task("b", { executor: "nons" as never, timeoutMs: -1 });
    a.then(b).then(a);
    const report = wf.state("report");
    report.task("bad name", { executor: "ns/r" });
    s.transition(report, { when: () => true });
    s.transition(workflow("x", { version: "1" }).state("foreign"));
    wf.state("orphan").task("o", { executor: "ns/o" });

    let caught: unknown;
    try {
      compile(wf);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(WorkflowValidationError);
    const err = caught as WorkflowValidationError;
    expect(err.code).toBe("WORKFLOW_INVALID");
    expect(err.issues.map((i) => `${i.code} ${i.path}`)).toEqual([
      "INVALID_RETRIES w/s/a",
      "INVALID_EXECUTOR_KEY w/s/b",
      "INVALID_TIMEOUT w/s/b",
      "UNKNOWN_TRANSITION_TARGET w/s",
      "CYCLE w/s",
      "INVALID_NAME w/report/bad name",
      "UNREACHABLE_STATE w/orphan",
    ]);
    expect(err.message).toContain('workflow "w" has 7 issues:');
    for (const issue of err.issues) expect(err.message).toContain(`[${issue.code}] ${issue.path}: ${issue.message}`);
  });
});
