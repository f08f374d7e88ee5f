// The plan formatters' small rules: durations, guard shortening, the widest phase,
// and the escaping that keeps mermaid and DOT output parseable for any guard text.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { duration, formatPlanText, shorten, widestPhase } from "../../src/cli/format-text.js";
import { formatPlanMermaid } from "../../src/cli/format-mermaid.js";
import { formatPlanDot } from "../../src/cli/format-dot.js";

function quirky() {
  const wf = workflow("quirky", { version: "1" });
  const a = wf.state("a");
  a.task("t", { executor: "q/t" });
  const b = wf.state("b");
  b.task("u", { executor: "q/u" });
  a.transition(b, { when: (out: Record<string, unknown>) => out.label === 'say "hi" | <b>' && out.n !== 0 });
  a.transition(wf.state("c", { final: true }));
  return compile(wf);
}

describe("cli format - helpers", () => {
  it("cli format - durations read like 500ms, 1.5s, 30s, 2m, 1m30s", () => {
    expect([500, 1500, 30_000, 120_000, 90_000].map(duration)).toEqual(["500ms", "1.5s", "30s", "2m", "1m30s"]);
  });

  it("cli format - guards are flattened to one line and cut with an ellipsis", () => {
    expect(shorten("(out) =>\n    out.loaded > 0", 60)).toBe("(out) => out.loaded > 0");
    expect(shorten("x".repeat(80), 10)).toBe("xxxxxxx...");
  });

  it("cli format - the widest phase is the first with the most tasks", () => {
    expect(widestPhase([["a"], ["b", "c"], ["d", "e"], ["f"]])).toEqual({ index: 1, size: 2 });
  });
});

describe("cli format - escaping", () => {
  const plan = quirky();
  const guard = shorten(plan.states[0]!.transitions[0]!.guard!, 50);

  it("cli format - mermaid labels encode quotes, pipes and angle brackets, and decode back to the guard", () => {
    const edge = formatPlanMermaid(plan).split("\n").find((l) => l.startsWith("  s0 -->|") && l.endsWith("s1"))!;
    const inner = edge.slice(edge.indexOf('|"') + 2, edge.lastIndexOf('"|'));
    expect(inner).not.toMatch(/["|<>]/);
    expect(inner.replace(/#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)))).toBe(guard);
  });

  it("cli format - DOT labels escape quotes and backslashes, and decode back to the guard", () => {
    const out = formatPlanDot(plan);
    const label = /"a\/t" -> "b\/u" \[label="((?:[^"\\]|\\.)*)"/.exec(out)?.[1];
    expect(label?.replace(/\\(.)/g, "$1")).toBe(guard);
    expect(out).toMatch(/"a\/t" -> "c\/__empty" \[label="fallback"/);
  });

  it("cli format - text output marks a state with one unguarded transition as always", () => {
    const wf = workflow("two", { version: "1" });
    const first = wf.state("first");
    first.task("t", { executor: "q/t" });
    const second = wf.state("second");
    second.task("u", { executor: "q/u" });
    first.transition(second);
    expect(formatPlanText(compile(wf))).toMatch(/transitions +-> second +always/);
  });
});
