/**
 * Helpers for the transport contract suite: message factories with unique ids (so
 * tests sharing one server never collide, not even in the dedupe window), a
 * collector to wait on handler calls instead of sleeping, and a round trip through
 * the transport used as a barrier before asserting that something did NOT arrive.
 */
import { randomBytes } from "node:crypto";
import { dispatchIdOf, idempotencyKeyOf, type Decision, type LiveSignal, type Report, type TaskMessage } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";

/** Safety net for every wait: generous, only hit when something is broken. */
export const WAIT_MS = 10_000;

export function uniq(): string {
  return randomBytes(4).toString("hex");
}

export function makeTask(executor: string, runId: string, task: string, over: Partial<TaskMessage> = {}): TaskMessage {
  return {
    v: 2,
    runId,
    planHash: "plan-hash",
    workflow: "contract",
    state: "s",
    visit: 1,
    task,
    attempt: 1,
    dispatchId: dispatchIdOf(runId, "s", 1, task, 1),
    executor,
    idempotencyKey: idempotencyKeyOf(runId, "s", 1, task, 0),
    input: { task },
    parents: {},
    deadline: null,
    timeoutMs: null,
    dispatchedAt: 1_700_000_000_000,
    round: 0,
    epoch: 1,
    token: "token-0123456789abcdef",
    ...over,
  };
}

/** A small valid decision batch; `n` tells them apart. */
export function makeDecision(runId: string, n: number, over: Partial<Decision> = {}): Decision {
  return {
    v: 2,
    kind: "decision",
    runId,
    by: "coordinator-a",
    epoch: 1,
    through: 0,
    at: 1_700_000_000_000 + n,
    events: [{ type: "task.skipped", state: "s", visit: 1, task: `t${n}`, reason: `decision ${n}` }],
    ...over,
  };
}

/** A small valid report; `n` tells them apart. */
export function makeReport(runId: string, n: number): Extract<Report, { type: "attempt.succeeded" }> {
  return {
    v: 2,
    kind: "report",
    type: "attempt.succeeded",
    runId,
    at: 1_700_000_000_000 + n,
    state: "s",
    visit: 1,
    task: `t${n}`,
    attempt: 1,
    dispatchId: dispatchIdOf(runId, "s", 1, `t${n}`, 1),
    token: "token-0123456789abcdef",
    workerId: "w1",
    output: { n },
    durationMs: n,
  };
}

export function makeLive(runId: string, done: number): LiveSignal {
  return { v: 2, type: "attempt.progress", runId, at: 1_700_000_000_000 + done, state: "s", visit: 1, task: "t", attempt: 1, dispatchId: dispatchIdOf(runId, "s", 1, "t", 1), workerId: "w1", done, total: 10 };
}

export function withTimeout<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Records what handlers receive; `waitFor(n)` resolves once `n` items arrived. */
export class Collector<T> {
  readonly items: T[] = [];
  private waiters: { n: number; resolve: () => void }[] = [];

  readonly push = (item: T): void => {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (this.items.length < w.n) return true;
      w.resolve();
      return false;
    });
  };

  waitFor(n: number, what: string): Promise<void> {
    if (this.items.length >= n) return Promise.resolve();
    const reached = new Promise<void>((resolve) => this.waiters.push({ n, resolve }));
    return withTimeout(reached, `${n} ${what} (got ${this.items.length})`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Store a report on a barrier run and wait until it comes back through `transport`,
 * then let pending macrotasks run: what the transport had to deliver before it has
 * been delivered by then. Used before asserting that something did not arrive.
 */
export async function roundTrip(transport: Transport): Promise<void> {
  const runId = `barrier_${uniq()}`;
  let arrived!: () => void;
  const got = new Promise<void>((resolve) => (arrived = resolve));
  const sub = await transport.subscribeReports(runId, 0, () => arrived());
  try {
    await transport.publishReport(makeReport(runId, 0));
    await withTimeout(got, "a round trip through the transport");
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    await sub.stop();
    await transport.deleteHistory(runId);
  }
}
