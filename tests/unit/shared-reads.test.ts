// The pieces that keep a request storm from wedging a coordinator: reads of one key
// shared by concurrent callers (each still gets a read that began after it asked),
// warnings about junk counted instead of logged one line each, and the API gate.
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiGate } from "../../src/fleet/api-server.js";
import type { Logger } from "../../src/registry/types.js";
import { LogLimiter } from "../../src/support/log-limiter.js";
import { SharedReads } from "../../src/support/shared-reads.js";

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe("shared reads", () => {
  it("shared reads - 100 concurrent callers of one key cost two reads: the one running and one that all later callers join", async () => {
    const pending: { key: string; done: ReturnType<typeof deferred<number>> }[] = [];
    const reads = new SharedReads<number>((key) => {
      const done = deferred<number>();
      pending.push({ key, done });
      return done.promise;
    });
    const first = reads.get("r1");
    const rest = Array.from({ length: 99 }, () => reads.get("r1"));
    expect(pending).toHaveLength(1);
    pending[0]!.done.resolve(1);
    expect(await first).toBe(1);
    await vi.waitFor(() => expect(pending).toHaveLength(2));
    pending[1]!.done.resolve(2);
    // The callers that came while read 1 ran get read 2 (begun after they asked), never read 1.
    expect(new Set(await Promise.all(rest))).toEqual(new Set([2]));
    expect(reads.reads).toBe(2);
    // Idle again: the next caller starts a read of its own.
    const later = reads.get("r1");
    expect(pending).toHaveLength(3);
    pending[2]!.done.resolve(3);
    expect(await later).toBe(3);
  });

  it("shared reads - keys are independent, and a failed read fails only its own callers", async () => {
    const pending = new Map<string, ReturnType<typeof deferred<string>>[]>();
    const reads = new SharedReads<string>((key) => {
      const done = deferred<string>();
      pending.set(key, [...(pending.get(key) ?? []), done]);
      return done.promise;
    });
    const a = reads.get("a");
    const b = reads.get("b");
    const aNext = reads.get("a");
    expect(reads.reads).toBe(2);
    pending.get("a")![0]!.reject(new Error("stream gone"));
    pending.get("b")![0]!.resolve("b1");
    await expect(a).rejects.toThrow("stream gone");
    expect(await b).toBe("b1");
    await vi.waitFor(() => expect(pending.get("a")).toHaveLength(2));
    pending.get("a")![1]!.resolve("a2");
    expect(await aNext).toBe("a2");
  });
});

describe("log limiter", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("log limiter - a flood of one kind gives one line at once and one counted line per window", () => {
    vi.useFakeTimers();
    const lines: { fields: Record<string, unknown>; msg: string }[] = [];
    const logger = { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ fields, msg }) } as unknown as Logger;
    const limiter = new LogLimiter(logger, 10_000);
    for (let i = 0; i < 1000; i++) limiter.warn("malformed report", { seq: i }, "malformed report skipped");
    limiter.warn("malformed decision", { seq: 0 }, "malformed decision skipped");
    expect(lines.map((l) => l.msg)).toEqual(["malformed report skipped", "malformed decision skipped"]);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(3);
    expect(lines[2]!.fields).toMatchObject({ seq: 999, suppressed: 999 });
    expect(lines[2]!.msg).toContain("999 more like it");
    // The flood goes on: still counted, one line per window.
    for (let i = 0; i < 500; i++) limiter.warn("malformed report", { seq: i }, "malformed report skipped");
    expect(lines).toHaveLength(3);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(4);
    expect(lines[3]!.fields).toMatchObject({ suppressed: 500 });
    // Quiet for a window: the next one logs at once again.
    vi.advanceTimersByTime(10_000);
    limiter.warn("malformed report", { seq: 1 }, "malformed report skipped");
    expect(lines).toHaveLength(5);
    limiter.warn("malformed report", { seq: 2 }, "malformed report skipped");
    limiter.flush();
    expect(lines).toHaveLength(6);
    expect(lines[5]!.fields).toMatchObject({ suppressed: 1 });
  });
});

describe("api gate", () => {
  it("api gate - runs at most its limit at once, the rest in arrival order", async () => {
    const gate = new ApiGate(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const holds = Array.from({ length: 6 }, () => deferred<void>());
    const all = holds.map((h, i) =>
      gate.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(i);
        await h.promise;
        running--;
        return i;
      }),
    );
    await vi.waitFor(() => expect(order).toEqual([0, 1]));
    expect(gate.queued).toBe(4);
    for (const h of holds) h.resolve();
    expect(await Promise.all(all)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });
});
