/**
 * Helpers for the transport contract suite: message factories with unique ids (so
 * tests sharing one server never collide, not even in the dedupe window), a
 * collector to wait on handler calls instead of sleeping, and a round trip through
 * the transport used as a barrier before asserting that something did NOT arrive.
 */
import { randomBytes } from "node:crypto";
import { dispatchIdOf, idempotencyKeyOf, type RunEvent, type TaskMessage } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";

/** Safety net for every wait: generous, only hit when something is broken. */
export const WAIT_MS = 10_000;

export function uniq(): string {
  return randomBytes(4).toString("hex");
}

export function makeTask(executor: string, runId: string, task: string, over: Partial<TaskMessage> = {}): TaskMessage {
  return {
    v: 1,
    runId,
    planHash: "plan-hash",
    workflow: "contract",
    state: "s",
    visit: 1,
    task,
    attempt: 1,
    dispatchId: dispatchIdOf(runId, "s", 1, task, 1),
    executor,
    idempotencyKey: idempotencyKeyOf(runId, "s", 1, task),
    input: { task },
    parents: {},
    deadline: null,
    timeoutMs: null,
    dispatchedAt: 1_700_000_000_000,
    ...over,
  };
}

/** A small valid run event; `n` tells them apart. */
export function makeEvent(runId: string, n: number): RunEvent {
  return { type: "task.skipped", runId, at: 1_700_000_000_000 + n, state: "s", visit: 1, task: `t${n}`, reason: `event ${n}` };
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

/**
 * Publish an event and wait until it comes back through `transport`: everything the
 * transport had to deliver before it has been delivered by then. Used before
 * asserting that something did not arrive.
 */
export async function roundTrip(transport: Transport): Promise<void> {
  const runId = `barrier_${uniq()}`;
  let arrived!: () => void;
  const got = new Promise<void>((resolve) => (arrived = resolve));
  const sub = await transport.subscribeEvents((e) => {
    if (e.runId === runId) arrived();
  });
  try {
    await transport.publishEvent(makeEvent(runId, 0));
    await withTimeout(got, "a round trip through the transport");
  } finally {
    await sub.stop();
  }
}
