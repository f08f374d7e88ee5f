// How signal and sleep nodes read: compile listing, Mermaid and DOT shapes, the
// progress display and `status`; and the fold's handling of a repeated signal id.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { formatPlanText } from "../../src/cli/format-text.js";
import { formatPlanMermaid } from "../../src/cli/format-mermaid.js";
import { formatPlanDot } from "../../src/cli/format-dot.js";
import { clockTime, describeWait } from "../../src/cli/format-wait.js";
import { renderProgress } from "../../src/cli/progress-render.js";
import { formatRunRecord } from "../../src/cli/format-run.js";
import { reduceRunEvents } from "../../src/runtime/core/run-record.js";
import type { RunEvent } from "../../src/transport/messages.js";

function waitingFlow() {
  const wf = workflow("w", { version: "1" });
  const s = wf.state("s");
  const draft = s.task("draft", { executor: "ns/draft" });
  draft.then(s.signal("approve", { timeoutMs: 2 * 3_600_000 })).then(s.sleep("cool", { ms: 60_000 }));
  return wf;
}

const T = new Date(2026, 11, 1, 14, 5, 0).getTime();

describe("cli - signal and sleep nodes", () => {
  it("cli - compile lists wait nodes by what they wait for, and diagrams give them their own shapes", () => {
    const plan = compile(waitingFlow());
    const text = formatPlanText(plan);
    expect(text).toMatch(/approve\s+signal approve\s+times out after 2h \(SIGNAL_TIMEOUT\)/);
    expect(text).toMatch(/cool\s+sleep 1m/);
    const mermaid = formatPlanMermaid(plan);
    expect(mermaid).toContain('s0t1{{"approve<br/>signal approve"}}');
    expect(mermaid).toContain('s0t2(["cool<br/>sleep 1m"])');
    const dot = formatPlanDot(plan);
    expect(dot).toContain('"s/approve" [label="approve\\nsignal approve", shape=hexagon];');
    expect(dot).toContain('"s/cool" [label="cool\\nsleep 1m", shape=ellipse, style=dashed];');
    // Wait nodes need no worker.
    expect(plan.states[0]!.tasks.filter((t) => t.wait).map((t) => t.executor)).toEqual(["phaseflow/signal", "phaseflow/sleep"]);
  });

  it("cli - progress and status show what a run waits for", () => {
    const at = T - 60_000;
    const base = { runId: "r1", at };
    const events: RunEvent[] = [
      { ...base, type: "run.started", workflow: "w", version: "1", planHash: "h", options: { schedule: "phases", onFailure: "fail-fast" } },
      { ...base, type: "state.entered", state: "s", visit: 1 },
      { ...base, type: "task.waiting", state: "s", visit: 1, task: "approve", attempt: 1, wait: { kind: "signal", name: "approve", deadline: null } },
      { ...base, type: "task.waiting", state: "s", visit: 1, task: "cool", attempt: 1, wait: { kind: "sleep", until: T } },
      { ...base, type: "signal.received", seq: 9, name: "other", id: "x1" },
    ];
    const record = reduceRunEvents(events);
    const lines = renderProgress(record, { now: at });
    expect(lines.some((l) => /^ {6}approve {2}waiting for signal "approve"/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {6}cool {2}sleeping until 14:05/.test(l))).toBe(true);
    const status = formatRunRecord(record);
    expect(status).toContain('  waiting: s/approve  waiting for signal "approve"\n');
    expect(status).toContain(`  waiting: s/cool  sleeping until ${clockTime(T)}\n`);
    expect(status).toContain('  signals not taken by a node yet: "other" (id x1)');
    expect(describeWait({ kind: "signal", name: "v", deadline: T + 86_400_000 }, T)).toMatch(/^waiting for signal "v" \(times out at \d{4}-\d{2}-\d{2} 14:05\)$/);
  });

  it("cli - a repeated signal id is folded once, and a consumed signal names its node", () => {
    const base = { runId: "r1", at: T };
    const record = reduceRunEvents([
      { ...base, type: "run.started", workflow: "w", version: "1", planHash: "h", options: { schedule: "phases", onFailure: "fail-fast" } },
      { ...base, type: "signal.received", seq: 2, name: "approve", id: "same", payload: 1 },
      { ...base, type: "signal.received", seq: 3, name: "approve", id: "same", payload: 2 },
      { ...base, type: "state.entered", state: "s", visit: 1 },
      { ...base, type: "task.waited", state: "s", visit: 1, task: "approve", attempt: 1, output: 1, signal: 2 },
    ]);
    expect(record.signals).toEqual([{ name: "approve", id: "same", at: T, seq: 2, consumedBy: "s/approve" }]);
    expect(record.tasks[0]).toMatchObject({ status: "succeeded", output: 1 });
  });
});
