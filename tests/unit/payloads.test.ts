// The payload rules (README "Payloads of any size") on the in-memory store: values over
// inlineBytes become references to one content-addressed object per content, held per run;
// releasing a run deletes only what no other run holds; references and merges resolve to
// the values a plain run would have had; maxPayload refuses with an error naming it.
import { describe, expect, it } from "vitest";
import { PayloadTooLargeError } from "../../src/errors/base.js";
import { mergeOutputs } from "../../src/runtime/core/dataflow.js";
import { holdsPayload } from "../../src/runtime/core/schema-check.js";
import { sha256HexOfBytes } from "../../src/support/hash.js";
import { memoryPayloadStore } from "../../src/transport/memory/payload-store.js";
import type { Report, TaskMessage } from "../../src/transport/messages.js";
import { createPayloads, isPayloadMerge, isPayloadRef, mayHoldReferences, shrinkMessage } from "../../src/transport/payloads.js";

const setup = (maxPayload = 1 << 20) => createPayloads(memoryPayloadStore(), { inlineBytes: 1024, maxPayload, sha256: sha256HexOfBytes });
const big = (c: string) => ({ blob: c.repeat(2000) });

describe("payloads", () => {
  it("payloads - a value at most inlineBytes stays inline; a larger one becomes a reference that resolves to it", async () => {
    const p = setup();
    const small = { a: 1 };
    expect(await p.reference("r1", small, "x")).toBe(small);
    const ref = await p.reference("r1", big("a"), "x");
    expect(isPayloadRef(ref)).toBe(true);
    expect(ref).toMatchObject({ $pfref: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as string, bytes: JSON.stringify(big("a")).length });
    expect(await p.resolve({ nested: [ref, 2] })).toEqual({ nested: [big("a"), 2] });
  });

  it("payloads - one object per content; releasing a run deletes only the objects no other run holds", async () => {
    const p = setup();
    const shared1 = await p.reference("r1", big("s"), "x");
    const shared2 = await p.reference("r2", big("s"), "x");
    expect(shared2).toEqual(shared1);
    await p.reference("r1", big("o"), "x");
    expect(await p.list()).toHaveLength(2);
    expect(await p.release("r1")).toBe(1);
    const left = await p.list();
    expect(left).toHaveLength(1);
    expect(left[0]).toMatchObject({ runs: ["r2"] });
    expect(await p.resolve(shared2)).toEqual(big("s"));
    expect(await p.release("r2")).toBe(1);
    expect(await p.list()).toEqual([]);
    await expect(p.resolve(shared1)).rejects.toThrow(/not in the payload store/);
  });

  it("payloads - a value over maxPayload is refused with PAYLOAD_TOO_LARGE naming the limit and the option", async () => {
    const p = setup(10_000);
    const err = await p.reference("r1", { blob: "x".repeat(20_000) }, 'the output in report of task "s/a"').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as PayloadTooLargeError).code).toBe("PAYLOAD_TOO_LARGE");
    expect((err as Error).message).toMatch(/the output in report of task "s\/a" is 20011 bytes, over the limit maxPayload = 10000 bytes.*raise maxPayload/);
  });

  it("payloads - a merge with a referenced output is a merge reference that resolves to the plain merge", async () => {
    const p = setup();
    const a = big("a");
    const outputs = new Map<string, unknown>([
      ["x", { k: 1, blob: "first" }],
      ["y", await p.reference("r", a, "y")],
      ["z", { k: 2 }],
    ]);
    const merged = mergeOutputs(["x", "y", "z"], outputs);
    expect(isPayloadMerge(merged)).toBe(true);
    expect(holdsPayload(merged)).toBe(true);
    const plain = mergeOutputs(["x", "y", "z"], new Map([...outputs, ["y", a]]));
    expect(await p.resolve(merged)).toEqual(plain);
    // Without references nothing changes.
    expect(mergeOutputs(["x", "z"], outputs)).toEqual({ k: 2, blob: "first" });
  });

  it("payloads - shrinking a message references only its large values, and its bytes say it may hold references", async () => {
    const p = setup();
    const report = { v: 3, kind: "report", type: "attempt.succeeded", runId: "r", at: 1, state: "s", visit: 1, task: "a", attempt: 1, dispatchId: "r/s/1/a/1", token: "t".repeat(16), workerId: "w", output: big("r"), durationMs: 1 } satisfies Report;
    const shrunk = await shrinkMessage(p, report, "report");
    expect(isPayloadRef(shrunk.type === "attempt.succeeded" ? shrunk.output : undefined)).toBe(true);
    expect(mayHoldReferences(new TextEncoder().encode(JSON.stringify(shrunk)))).toBe(true);
    expect(mayHoldReferences(new TextEncoder().encode(JSON.stringify({ a: "pf", b: 1 })))).toBe(false);
    const task = { v: 3, runId: "r", planHash: "h", workflow: "w", state: "s", visit: 1, task: "b", attempt: 1, dispatchId: "r/s/1/b/1", executor: "n/e", idempotencyKey: "k", parents: { a: big("p"), c: { small: true } }, inputFrom: ["a", "c"], deadline: null, timeoutMs: null, dispatchedAt: 1, round: 0, epoch: 1, token: "t".repeat(16) } satisfies TaskMessage;
    const t = await shrinkMessage(p, task, "task");
    expect(isPayloadRef(t.parents.a)).toBe(true);
    expect(t.parents.c).toEqual({ small: true });
    expect(await p.resolve(t.parents)).toEqual(task.parents);
  });
});
