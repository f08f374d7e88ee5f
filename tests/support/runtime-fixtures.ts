/**
 * Helpers for the runtime tests: an embedded engine over a memory hub (so a test can
 * read histories and queue stats), waiting on run events instead of sleeping, and a
 * gate to hold an executor until the test lets it go.
 *
 * A run's events (`handle.events()`, `waitForEvent`) are its decisions and the reports
 * it folded; `attempt.started` is a live signal now, not an event: to wait until an
 * executor runs, open a gate from inside it.
 */
import { createMemoryHub, type MemoryHub } from "../../src/transport/memory/index.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import type { RunEvent, RunEventOf, RunEventType, StoredMessage } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";
import { createRegistry, type Registry } from "../../src/registry/registry.js";
import { createEngine, type Engine, type EngineOptions } from "../../src/embedded/engine.js";
import type { RunHandle } from "../../src/runtime/shell/run-handle.js";

export interface TestEngine {
  engine: Engine;
  registry: Registry;
  hub: MemoryHub;
  transport: Transport;
  /** The run's stored messages, in stored order. */
  history(runId: string): Promise<StoredMessage[]>;
  /** The run's history as the fold reads it. */
  events(runId: string): Promise<RunEvent[]>;
  close(): Promise<void>;
}

/** An engine with an in-process worker, over a memory hub; register executors on `registry` before the first run. */
export function testEngine(options: Omit<EngineOptions, "registry" | "transport" | "worker"> = {}): TestEngine {
  const registry = createRegistry();
  const hub = createMemoryHub();
  const transport = hub.connect();
  const engine = createEngine({ registry, transport, worker: true, ...options });
  return {
    engine,
    registry,
    hub,
    transport,
    history: async (runId) => (await transport.readHistory(runId)).messages,
    events: async (runId) => historyEvents((await transport.readHistory(runId)).messages),
    async close() {
      await engine.close();
      await hub.close();
    },
  };
}

/** The first event of the run (replayed or live) that matches. */
export async function waitForEvent<T extends RunEventType>(handle: RunHandle, type: T, match: (e: RunEventOf<T>) => boolean = () => true): Promise<RunEventOf<T>> {
  for await (const e of handle.events()) {
    if (e.type === type && match(e as RunEventOf<T>)) return e as RunEventOf<T>;
  }
  throw new Error(`run ${handle.runId} ended without a ${type} event that matches`);
}

/** Every event of the run up to its end. */
export async function allEvents(handle: RunHandle): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of handle.events()) out.push(e);
  return out;
}

export interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

/** A promise the test resolves when it chooses. */
export function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Let the memory transport's deliveries run (a few turns of the event loop). */
export async function settle(turns = 25): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
