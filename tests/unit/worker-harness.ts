/**
 * Test harness for the worker: a manual clock (timeouts and grace periods advance
 * when the test says so), a recording logger, and a memory hub with a "coordinator"
 * connection that dispatches tasks and records what the worker sends for the rig's
 * run: its stored reports and its live signals (attempt.started after 200 ms,
 * progress, heartbeats), in the order they arrive.
 */
import { createRegistry, type Registry } from "../../src/registry/registry.js";
import type { LogFn, Logger } from "../../src/registry/types.js";
import type { Clock, TimerHandle } from "../../src/support/clock.js";
import type { LiveSignal, Report, TaskMessage } from "../../src/transport/messages.js";
import { createMemoryHub, type MemoryHub, type WireMode } from "../../src/transport/memory/index.js";
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

/** What the coordinator side sees of the worker: a stored report (with its seq) or a live signal. */
export type Seen = (Report & { seq: number }) | LiveSignal;

export interface Rig {
  hub: MemoryHub;
  registry: Registry;
  /** The coordinator's side: dispatches, and sees the run's reports and live signals. */
  coordinator: Transport;
  events: Collector<Seen>;
  worker: Worker;
  runId: string;
  task(name: string, over?: Partial<TaskMessage>): TaskMessage;
  /** Resolves with the first report or signal matching `pred` (already seen or still to come). */
  waitForEvent<T extends Seen>(pred: (e: Seen) => e is T, what: string): Promise<T>;
  waitForEvent(pred: (e: Seen) => boolean, what: string): Promise<Seen>;
  /** The report (attempt.succeeded or attempt.failed) of a task (by task name). */
  result(task: string): Promise<Report & { seq: number }>;
  /** The types of what was seen of a task, in order (reports and live signals). */
  eventsOf(task: string): string[];
  close(): Promise<void>;
}

/**
 * A hub, a registry filled by `register`, a started worker and a recording coordinator connection.
 * The hub's wire is strict (JSON and zod on every message, like NATS) unless `wire: "fast"`.
 */
export async function startRig(
  register: (registry: Registry) => void,
  { wrap, wire = "strict", ...options }: Partial<Omit<WorkerOptions, "transport" | "registry">> & { wrap?: (worker: Transport) => Transport; wire?: WireMode } = {},
): Promise<Rig> {
  const hub = createMemoryHub({ wire });
  const registry = createRegistry();
  register(registry);
  const coordinator = hub.connect();
  const events = new Collector<Seen>();
  const watchers: { pred: (e: Seen) => boolean; resolve: (e: Seen) => void }[] = [];
  const see = (e: Seen): void => {
    events.push(e);
    for (const w of [...watchers]) {
      if (w.pred(e)) {
        watchers.splice(watchers.indexOf(w), 1);
        w.resolve(e);
      }
    }
  };
  const runId = `run_${uniq()}`;
  await coordinator.subscribeReports(runId, 0, (seq, report) => {
    if (report.kind === "report") see({ ...report, seq });
  });
  await coordinator.subscribeLive(runId, see);
  const transport = wrap ? wrap(hub.connect()) : hub.connect();
  const worker = createWorker({ transport, registry, workerId: "w1", ...options });
  await worker.start();
  const waitForEvent = (pred: (e: Seen) => boolean, what: string): Promise<Seen> => {
    const seen = events.items.find(pred);
    if (seen) return Promise.resolve(seen);
    return withTimeout(new Promise<Seen>((resolve) => watchers.push({ pred, resolve })), what);
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
    eventsOf: (task) => events.items.filter((e) => e.task === task).map((e) => e.type),
    async close() {
      await worker.stop({ graceful: false });
      await hub.close();
    },
  };
  return rig;
}
