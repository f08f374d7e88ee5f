import { describe, expect, it } from "vitest";
import { backoffDelay, decideAfterFailure, maxAttempts } from "../../src/runtime/core/retry-policy.js";

const backoff = { initialMs: 1000, maxMs: 5000, factor: 2 };

describe("runtime - retry policy", () => {
  it("runtime - backoff is exponential with equal jitter: base/2 + random * base/2", () => {
    expect([1, 2, 3].map((a) => backoffDelay(backoff, a, () => 0))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((a) => backoffDelay(backoff, a, () => 0.5))).toEqual([750, 1500, 3000]);
    expect(backoffDelay(backoff, 1, () => 0.998)).toBe(999);
  });

  it("runtime - backoff is capped at maxMs", () => {
    expect(backoffDelay(backoff, 10, () => 0.5)).toBe(3750);
    expect(backoffDelay({ initialMs: 100, maxMs: 100, factor: 3 }, 7, () => 0)).toBe(50);
  });

  it("runtime - retries while attempts remain and the error is retryable", () => {
    const task = { retries: 2, backoff };
    expect(maxAttempts(task)).toBe(3);
    expect(decideAfterFailure(task, 1, { retryable: true }, () => 0.5)).toEqual({ kind: "retry", delayMs: 750, nextAttempt: 2 });
    expect(decideAfterFailure(task, 2, { retryable: true }, () => 0.5)).toEqual({ kind: "retry", delayMs: 1500, nextAttempt: 3 });
    expect(decideAfterFailure(task, 3, { retryable: true }, () => 0.5)).toEqual({ kind: "fail" });
    expect(decideAfterFailure(task, 1, { retryable: false }, () => 0.5)).toEqual({ kind: "fail" });
    expect(decideAfterFailure({ retries: 0, backoff }, 1, { retryable: true }, () => 0.5)).toEqual({ kind: "fail" });
  });
});
