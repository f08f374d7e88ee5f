// The run record as `status` and the run summary print it: tasks not started yet (from
// the plan) are listed, every failed attempt's error is shown, a state visit of more
// than 20 tasks is grouped (counts per status, failed ones listed), and list totals
// count the whole plan.
import { describe, expect, it } from "vitest";
import { attemptErrorsOf, formatRunList, formatRunRecord } from "../../src/cli/format-run.js";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import type { RunRecord, TaskRecord } from "../../src/runtime/core/run-record-schema.js";
import type { RunEvent } from "../../src/transport/messages.js";

const wf = workflow("w", { version: "1" });
const first = wf.state("first");
first.task("a", { executor: "w/a" }).then(first.task("b", { executor: "w/b" }));
const second = wf.state("second");
second.task("c", { executor: "w/c" });
first.transition(second);
const plan = compile(wf);

const task = (t: Partial<TaskRecord> & Pick<TaskRecord, "task" | "status">): TaskRecord => ({ id: `first/${t.task}`, state: "first", visit: 1, attempts: 1, ...t });
const base: RunRecord = { runId: "run_1", workflow: "w", version: "1", planHash: plan.planHash, status: "running", states: [{ name: "first", visit: 1, status: "running", enteredAt: 0 }], tasks: [] };
const boom = (message: string) => ({ name: "Error", code: "BOOM", message, retryable: true });

describe("cli format run - status view", () => {
  it("cli format run - lists the plan's tasks and states not started yet as pending", () => {
    const text = formatRunRecord({ ...base, tasks: [task({ task: "a", status: "running" })] }, { plan });
    expect(text).toMatch(/\n {2}a\s+running/);
    expect(text).toMatch(/\n {2}b\s+pending\s+0/);
    expect(text).toContain("state second  not entered");
    expect(text).toMatch(/\n {2}c\s+pending/);
  });

  it("cli format run - shows every failed attempt's error, not only the last", () => {
    const events = [1, 2].map((attempt): RunEvent => ({ runId: "run_1", at: attempt, type: "task.retrying", state: "first", visit: 1, task: "a", attempt, nextAttempt: attempt + 1, dueAt: 9, error: boom(`failure ${attempt}`) }));
    const record = { ...base, tasks: [task({ task: "a", status: "retrying", attempts: 2, error: boom("failure 2") })] };
    const text = formatRunRecord(record, { attemptErrors: attemptErrorsOf(events) });
    expect(text).toContain("attempt 1: [BOOM] failure 1");
    expect(text).toContain("attempt 2: [BOOM] failure 2");
  });

  it("cli format run - groups a state visit of more than 20 tasks: counts per status, failed ones listed", () => {
    const tasks = Array.from({ length: 300 }, (_, i) => task({ task: `t${i}`, status: i === 7 ? "failed" : "succeeded", ...(i === 7 ? { error: boom("no") } : {}) }));
    const text = formatRunRecord({ ...base, status: "failed", tasks });
    expect(text).toContain("300 tasks: 299 succeeded, 1 failed");
    expect(text).toMatch(/\n {2}t7\s+failed/);
    expect(text).not.toMatch(/\n {2}t8\s/);
    expect(text.split("\n").length).toBeLessThan(12);
  });

  it("cli format run - list totals count every task of the plan, not only the started ones", () => {
    const text = formatRunList([{ runId: "run_1", workflow: "w", version: "", planHash: "h", status: "running", tasks: { total: 1, succeeded: 0, failed: 0, running: 1 } }], new Map([["w", 3]]));
    expect(text).toContain("0/0/3");
  });
});
