/**
 * Helpers for the recovery and retry tests: a memory hub shared by coordinators that
 * "crash" (close) and others that pick their runs up, with a separate in-process
 * worker on its own connection, a fake clock, and counters of executor calls.
 */
import { createEngine, type Engine } from "../../src/runtime/engine.js";
import { createRegistry, type Registry } from "../../src/registry/registry.js";
import { createMemoryHub, type MemoryHub } from "../../src/transport/memory/index.js";
import type { RunEvent } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";
import { createWorker, type Worker } from "../../src/worker/index.js";
import { createFakeClock, type FakeClock } from "../support/fake-clock.js";

export interface Cluster {
  hub: MemoryHub;
  clock: FakeClock;
  registry: Registry;
  /** A connection for reading histories. */
  reader: Transport;
  /** Executor calls, as `task` or `task#attempt`. */
  calls: string[];
  /** A coordinator-only engine on its own connection (no worker). */
  coordinator(): Engine;
  /** Start the shared worker (after registering executors). */
  startWorker(): Promise<Worker>;
  history(runId: string): Promise<RunEvent[]>;
  close(): Promise<void>;
}

/** A hub, a fake clock, a registry; coordinators and the worker are added on demand. */
export function createCluster(): Cluster {
  const hub = createMemoryHub();
  const clock = createFakeClock(1_000_000);
  const registry = createRegistry();
  const reader = hub.connect();
  const engines: Engine[] = [];
  const workers: Worker[] = [];
  return {
    hub,
    clock,
    registry,
    reader,
    calls: [],
    coordinator() {
      const engine = createEngine({ transport: hub.connect(), worker: false, clock, random: () => 0.5 });
      engines.push(engine);
      return engine;
    },
    async startWorker() {
      const worker = createWorker({ transport: hub.connect(), registry, clock, concurrency: 8 });
      workers.push(worker);
      await worker.start();
      return worker;
    },
    history: (runId) => reader.readRunEvents(runId),
    async close() {
      for (const e of engines) await e.close();
      for (const w of workers) await w.stop({ graceful: false });
      await hub.close();
    },
  };
}

/** task.succeeded events per `state/visit/task`. */
export function succeededCounts(events: readonly RunEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) {
    if (e.type !== "task.succeeded") continue;
    const key = `${e.state}/${e.visit}/${e.task}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** The events after the last run.retried (all of them when there is none). */
export function sinceLastRetry(events: readonly RunEvent[]): RunEvent[] {
  const i = events.map((e) => e.type).lastIndexOf("run.retried");
  return events.slice(i + 1);
}

/** Let the memory transport deliver, a few turns of the event loop at a time, until `done()` or give up. */
export async function until(clock: FakeClock, done: () => boolean | Promise<boolean>, rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (await done()) return;
    await clock.flush();
  }
  throw new Error("condition not reached");
}
