// The hand-written checks of the hot messages (src/transport/message-checks.ts) may
// refuse more than their zod schemas, never less, and what they accept comes out as
// zod's parse would (same keys, same order, unknown keys stripped): held here on valid
// messages of every optional shape and on every field of them swapped for values of
// the wrong kind, dropped, or joined by unknown keys.
import { describe, expect, it } from "vitest";
import { checkSucceededReport, checkTaskMessage, FAST_CHECKS, passesBeforeEncoding } from "../../src/transport/message-checks.js";
import { reportSchema, reportSubjectSchema, taskMessageSchema } from "../../src/transport/messages.js";
import { decodeJsonText } from "../../src/transport/decode.js";

const task = {
  v: 3,
  runId: "run_0001-x",
  planHash: "abc",
  workflow: "etl",
  state: "load",
  visit: 1,
  task: "t1",
  attempt: 2,
  dispatchId: "run_0001-x/load/1/t1/2",
  executor: "etl/load",
  idempotencyKey: "k",
  parents: { a: { x: 1 }, b: [1, 2] },
  deadline: null,
  timeoutMs: null,
  dispatchedAt: 1_796_000_000_000,
  round: 0,
  epoch: 3,
  token: "0123456789abcdef0123",
};
const taskOptionals = {
  input: { rows: [1, 2, 3] },
  inputFrom: ["a", "b"],
  params: { p: true },
  seed: 42,
  item: { index: 0, count: 5 },
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  tracestate: "k=v",
};
const report = {
  v: 3,
  kind: "report",
  type: "attempt.succeeded",
  runId: "run_0001-x",
  at: 1_796_000_000_001,
  state: "load",
  visit: 1,
  task: "t1",
  attempt: 2,
  dispatchId: "run_0001-x/load/1/t1/2",
  token: "0123456789abcdef0123",
  workerId: "w1",
  output: { ok: 1 },
  durationMs: 0.5,
};

const ODD: unknown[] = [null, "", "x", 0, -1, 1.5, 2 ** 53, 1e308, true, false, [], ["a"], [1], {}, { index: 0 }, { index: -1, count: 1 }, { index: 0, count: 0 }, "a".repeat(129), "a".repeat(513), "bad id!", 2, 3, 4, "report", "attempt.succeeded", "attempt.failed", "signal"];

/** The message, then each key dropped, each key set to each odd value, and an unknown key added. */
function variants(base: Record<string, unknown>): unknown[] {
  const out: unknown[] = [base, { ...base, extra: 1, __proto__x: 2 }, null, [], "x", 3];
  for (const key of Object.keys(base)) {
    const { [key]: _dropped, ...rest } = base;
    out.push(rest);
    for (const odd of ODD) out.push({ ...base, [key]: odd });
  }
  return out;
}

/** Every subset of the optional fields added to the base. */
function withOptionals(base: Record<string, unknown>, optionals: Record<string, unknown>): Record<string, unknown>[] {
  const keys = Object.keys(optionals);
  const all: Record<string, unknown>[] = [];
  for (let mask = 0; mask < 1 << keys.length; mask++) {
    const m: Record<string, unknown> = { ...base };
    keys.forEach((k, i) => {
      if (mask & (1 << i)) m[k] = optionals[k];
    });
    all.push(m);
  }
  return all;
}

function agree(check: (v: unknown) => unknown, schema: { safeParse(v: unknown): { success: boolean; data?: unknown } }, value: unknown): "fast" | "slow" {
  const raw: unknown = JSON.parse(JSON.stringify(value));
  const fast = check(raw);
  if (fast === undefined) return "slow";
  const zod = schema.safeParse(JSON.parse(JSON.stringify(value)));
  expect(zod.success, JSON.stringify(value)).toBe(true);
  expect(JSON.stringify(fast)).toBe(JSON.stringify(zod.data));
  expect(fast).toEqual(zod.data);
  return "fast";
}

describe("message checks", () => {
  it("message checks - the task check accepts every valid shape, as zod parses it, and nothing zod refuses", () => {
    let fast = 0;
    let total = 0;
    for (const valid of withOptionals(task, taskOptionals)) {
      expect(agree(checkTaskMessage, taskMessageSchema, valid)).toBe("fast");
      for (const v of variants(valid)) {
        total++;
        if (agree(checkTaskMessage, taskMessageSchema, v) === "fast") fast++;
      }
    }
    // Most mutations are refused; those that stay valid (e.g. another string) take the fast path.
    expect(fast).toBeGreaterThan(0);
    expect(fast).toBeLessThan(total);
  });

  it("message checks - the report check accepts successful reports, with and without output, as zod parses them", () => {
    const { output: _output, ...noOutput } = report;
    for (const valid of [report, noOutput, { ...report, v: 2, output: null }]) {
      expect(agree(checkSucceededReport, reportSchema, valid)).toBe("fast");
      expect(agree(checkSucceededReport, reportSubjectSchema, valid)).toBe("fast");
      for (const v of variants(valid)) {
        agree(checkSucceededReport, reportSchema, v);
        agree(checkSucceededReport, reportSubjectSchema, v);
      }
    }
  });

  it("message checks - failed reports and signals are left to zod", () => {
    const failed = { ...report, type: "attempt.failed", error: { name: "Error", message: "x" } };
    const signal = { v: 3, kind: "signal", type: "signal.received", runId: "r1", at: 1, name: "go", id: "go-1" };
    expect(checkSucceededReport(failed)).toBeUndefined();
    expect(checkSucceededReport(signal)).toBeUndefined();
    expect(FAST_CHECKS.get(reportSubjectSchema)).toBe(checkSucceededReport);
  });

  it("message checks - decoding goes through the check and still refuses what zod refuses, with zod's reason", () => {
    const ok = decodeJsonText(taskMessageSchema, JSON.stringify(task));
    expect(ok).toEqual({ ok: true, value: taskMessageSchema.parse(task) });
    const bad = decodeJsonText(taskMessageSchema, JSON.stringify({ ...task, token: "short" }));
    expect(bad.ok).toBe(false);
    expect(bad.ok ? "" : bad.reason).toMatch(/^failed its schema: token:/);
  });

  it("message checks - a sender skips its JSON round trip only when zod would accept the round trip", () => {
    const odd: unknown[] = [
      { ...task, parents: { toJSON: () => 1 } },
      { ...task, toJSON: () => "x" },
      { ...task, item: new Date(0) },
      { ...task, item: { index: 0, count: 1, toJSON: () => null } },
      { ...task, seed: undefined },
      { ...task, input: undefined },
      { ...task, traceparent: undefined },
      Object.assign(Object.create(null) as object, task),
      { ...report, output: undefined },
      { ...report, output: new Date(0) },
    ];
    const candidates = [...withOptionals(task, taskOptionals).flatMap(variants), ...variants(report), ...odd];
    let skipped = 0;
    for (const value of candidates) {
      for (const schema of [taskMessageSchema, reportSchema]) {
        if (!passesBeforeEncoding(schema, value)) continue;
        skipped++;
        const text = JSON.stringify(value);
        expect(schema.safeParse(JSON.parse(text)).success, text).toBe(true);
      }
    }
    expect(skipped).toBeGreaterThan(0);
    expect(passesBeforeEncoding(taskMessageSchema, { ...task, parents: { toJSON: () => 1 } })).toBe(false);
    expect(passesBeforeEncoding(taskMessageSchema, task)).toBe(true);
  });
});
