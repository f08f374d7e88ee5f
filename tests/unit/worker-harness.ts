/**
 * Test harness for the worker: a manual clock (timeouts and grace periods advance
 * when the test says so), a recording logger, and a memory hub with a "coordinator"
 * connection that dispatches tasks and records every run event.
 */
import { createRegistry, type Registry } from "../../src/registry/registry.js";
import type { LogFn, Logger } from "../../src/registry/types.js";
import type { Clock, TimerHandle } from "../../src/runtime/clock.js";
import type { RunEvent, TaskMessage } from "../../src/transport/messages.js";
import { createMemoryHub, type MemoryHub } from "../../src/transport/memory/index.js";
import type { Transport } from "../../src/transport/port.js";
import { createWorker, type Worker, type WorkerOptions } from "../../src/worker/index.js";
import { Collector, makeTask, roundTrip, uniq, withTimeout } from "../contract/contract-support.js";

export { Collector, roundTrip, uniq, withTimeout };

/** Timers fire only from `advance()`, in due order. */
export class ManualClock implements Clock {
  private current = 1_700_000_000_000;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { at: this.current + ms, fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Timers not yet fired nor cleared. */
  get pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= target && (due === undefined || entry[1].at < due[1].at)) due = entry;
      if (due === undefined) break;
      this.timers.delete(due[0]);
      this.current = due[1].at;
      due[1].fn();
    }
    this.current = target;
  }
}

export interface LogLine {
  level: string;
  msg: string;
  bindings: Record<string, unknown>;
}

/** A Logger that keeps every line (with its child bindings) in `lines`. */
export function recordingLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const fn = (level: string): LogFn =>
    ((a: unknown, b?: string) => {
      lines.push({ level, msg: typeof a === "string" ? a : (b ?? ""), bindings });
    });
  return {
    lines,
    trace: fn("trace"),
    debug: fn("debug"),
    info: fn("info"),
    warn: fn("warn"),
    error: fn("error"),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}

/** A promise with its resolve and reject, for executors the test releases. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (err: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export interface Rig {
  hub: MemoryHub;
  registry: Registry;
  /** The coordinator's side: dispatches and sees events. */
  coordinator: Transport;
  events: Collector<RunEvent>;
  worker: Worker;
  runId: string;
  task(name: string, over?: Partial<TaskMessage>): TaskMessage;
  /** Resolves with the first event matching `pred` (already recorded or still to come). */
  waitForEvent<T extends RunEvent>(pred: (e: RunEvent) => e is T, what: string): Promise<T>;
  waitForEvent(pred: (e: RunEvent) => boolean, what: string): Promise<RunEvent>;
  /** The attempt.succeeded or attempt.failed event of a task (by task name). */
  result(task: string): Promise<Extract<RunEvent, { type: "attempt.succeeded" | "attempt.failed" }>>;
  eventsOf(task: string): string[];
  close(): Promise<void>;
}

/** A hub, a registry filled by `register`, a started worker and a recording coordinator connection. */
export async function startRig(
  register: (registry: Registry) => void,
  { wrap, ...options }: Partial<Omit<WorkerOptions, "transport" | "registry">> & { wrap?: (worker: Transport) => Transport } = {},
): Promise<Rig> {
  const hub = createMemoryHub();
  const registry = createRegistry();
  register(registry);
  const coordinator = hub.connect();
  const events = new Collector<RunEvent>();
  const watchers: { pred: (e: RunEvent) => boolean; resolve: (e: RunEvent) => void }[] = [];
  await coordinator.subscribeEvents((e) => {
    events.push(e);
    for (const w of [...watchers]) {
      if (w.pred(e)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  const transport = wrap ? wrap(hub.connect()) : hub.connect();
  const worker = createWorker({ transport, registry, workerId: "w1", ...options });
  await worker.start();
  const runId = `run_${uniq()}`;
  const waitForEvent = (pred: (e: RunEvent) => boolean, what: string): Promise<RunEvent> => {
    const seen = events.items.find(pred);
    if (seen) return Promise.resolve(seen);
    return withTimeout(new Promise<RunEvent>((resolve) => watchers.push({ pred, resolve })), what);
  };
  const rig: Rig = {
    hub,
    registry,
    coordinator,
    events,
    worker,
    runId,
    task: (name, over = {}) => makeTask(over.executor ?? "t/run", runId, name, over),
    waitForEvent: waitForEvent,
    result: (task) =>
      waitForEvent((e) => (e.type === "attempt.succeeded" || e.type === "attempt.failed") && e.task === task, `the result of ${task}`) as ReturnType<Rig["result"]>,
    eventsOf: (task) => events.items.filter((e) => "task" in e && e.task === task).map((e) => e.type),
    async close() {
      await worker.stop({ graceful: false });
      await hub.close();
    },
  };
  return rig;
}
