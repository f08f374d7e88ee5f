/**
 * Helpers for the recovery, retry and resume-property tests: a memory hub shared by
 * coordinators that "crash" (close) and others that pick their runs up, with a
 * separate in-process worker on its own connection, a fake clock, and counters of
 * executor calls. A history is cut by copying its first k stored messages into a
 * fresh hub (`seed`), which gives them the same sequence numbers.
 */
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { createRunState, evolve, taskKey } from "../../src/runtime/core/run-state.js";
import { createRegistry, type Registry } from "../../src/registry/registry.js";
import { createMemoryHub, type MemoryHub, type WireMode } from "../../src/transport/memory/index.js";
import type { RunEvent, StoredMessage } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";
import { createWorker, type Worker } from "../../src/worker/index.js";
import { createFakeClock, type FakeClock } from "../support/fake-clock.js";

export interface Cluster {
  hub: MemoryHub;
  clock: FakeClock;
  registry: Registry;
  /** A connection for reading histories. */
  reader: Transport;
  /** Executor calls, as the executors choose to record them (usually the task name). */
  calls: string[];
  /** A coordinator-only engine on its own connection (no worker), or on `transport` when given. */
  coordinator(options?: { watchdogMs?: number; transport?: Transport }): Engine;
  /** Start a worker on its own connection (after registering executors). */
  startWorker(): Promise<Worker>;
  /** The run's stored messages, in stored order. */
  history(runId: string): Promise<StoredMessage[]>;
  /** The run's history as the fold reads it (historyEvents of `history`). */
  events(runId: string): Promise<RunEvent[]>;
  /** Store `messages` (another hub's history, or a prefix of it) in this hub, under the same sequence numbers. */
  seed(messages: readonly StoredMessage[]): Promise<void>;
  /**
   * Run the clock until `done()`: let deliveries run, and move time to the next timer
   * only once nothing moves any more (no task queued, no attempt in flight, the history
   * unchanged), so a watchdog never fires under an attempt that is merely slow.
   */
  drive(runId: string, done: () => boolean, limit?: number): Promise<void>;
  close(): Promise<void>;
}

/** A hub, a fake clock, a registry; coordinators and workers are added on demand. */
export function createCluster(options: { wire?: WireMode; start?: number } = {}): Cluster {
  const hub = createMemoryHub({ wire: options.wire ?? "fast" });
  const clock = createFakeClock(options.start ?? 1_000_000);
  const registry = createRegistry();
  const reader = hub.connect();
  const engines: Engine[] = [];
  const workers: Worker[] = [];
  const cluster: Cluster = {
    hub,
    clock,
    registry,
    reader,
    calls: [],
    coordinator(o = {}) {
      const engine = createEngine({ transport: hub.connect(), worker: false, clock, random: () => 0.5, ...o });
      engines.push(engine);
      return engine;
    },
    async startWorker() {
      const worker = createWorker({ transport: hub.connect(), registry, clock, concurrency: 8 });
      workers.push(worker);
      await worker.start();
      return worker;
    },
    history: async (runId) => (await reader.readHistory(runId)).messages,
    events: async (runId) => historyEvents((await reader.readHistory(runId)).messages),
    async seed(messages) {
      for (const m of messages) hub.injectRaw(m.message.kind, m.message, m.message.runId);
      const runId = messages[0]?.message.runId;
      if (runId === undefined) return;
      const stored = (await reader.readHistory(runId)).messages.map((m) => m.seq);
      const wanted = messages.map((m) => m.seq);
      if (JSON.stringify(stored) !== JSON.stringify(wanted)) {
        throw new Error(`seed: the fresh hub stored seqs ${stored.join(",")} for ${wanted.join(",")}; seed a hub that stored nothing yet, from a hub that held only this run`);
      }
    },
    async drive(runId, done, limit = 5_000) {
      let lastLength = -1;
      for (let i = 0; i < limit; i++) {
        await clock.flush();
        if (done()) return;
        const length = (await reader.readHistory(runId)).messages.length;
        const { queued, delayed } = hub.stats();
        const busy = queued > 0 || delayed > 0 || workers.some((w) => w.stats().inFlight > 0) || length !== lastLength;
        lastLength = length;
        if (busy) continue;
        const due = clock.nextDue();
        if (due === undefined) throw new Error(`drive: run "${runId}" is not done and nothing is left to happen (no timer, no task)`);
        await clock.advance(Math.max(0, due - clock.now()));
      }
      throw new Error(`drive: run "${runId}" not done after ${limit} rounds`);
    },
    async close() {
      for (const e of engines) await e.close();
      for (const w of workers) await w.stop({ graceful: false });
      await hub.close();
    },
  };
  return cluster;
}

/**
 * Successes per `state/visit/task` as the history records them: a task.succeeded
 * decision, or an accepted report of a task without an output schema (the report is
 * the verdict). Only those at index `from` and later of `events` are counted.
 */
export function succeededCounts(events: readonly RunEvent[], from = 0): Record<string, number> {
  const counts: Record<string, number> = {};
  const first = events[0];
  const st = createRunState(first?.runId ?? "");
  events.forEach((e, i) => {
    const refused = st.refused;
    evolve(st, e);
    if (i < from) return;
    const key = "task" in e && "visit" in e ? `${e.state}/${e.visit}/${e.task}` : "";
    const accepted = e.type === "task.succeeded" || (e.type === "attempt.succeeded" && st.refused === refused && st.tasks.get(taskKey(e.state, e.visit, e.task))?.status === "succeeded");
    if (accepted) counts[key] = (counts[key] ?? 0) + 1;
  });
  return counts;
}

/** succeededCounts of the events after the last run.retried (all of them when there is none). */
export function succeededSinceLastRetry(events: readonly RunEvent[]): Record<string, number> {
  const i = events.map((e) => e.type).lastIndexOf("run.retried");
  return succeededCounts(events, i + 1);
}

/** How often each type of event occurs. */
export function count(events: readonly RunEvent[], type: RunEvent["type"]): number {
  return events.filter((e) => e.type === type).length;
}

/** Let the memory transport deliver, a few turns of the event loop at a time, until `done()` or give up. */
export async function until(clock: FakeClock, done: () => boolean | Promise<boolean>, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await done()) return;
    await clock.flush();
  }
  throw new Error("condition not reached");
}
