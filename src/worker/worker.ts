/**
 * The worker library: take task attempts from a transport, run them with the
 * executors of a registry, report each attempt as run events. A worker runs one
 * attempt and reports; retries, backoff and verdicts are the coordinator's.
 *
 * Delivery is at-least-once: an attempt whose result could not be stored is
 * redelivered and run again, so executors with side effects should use
 * `ctx.idempotencyKey`.
 *
 * CPU-bound executors: a synchronous executor blocks the event loop of the whole
 * worker (no heartbeats, no cancel messages, no other tasks' reports) until it
 * returns, and no timeout can interrupt it. Each executor call starts after a
 * macrotask boundary, so results that other tasks already produced are stored
 * first; but long CPU work belongs in a `worker_threads` Worker or a child process
 * (await it from the executor and terminate it on `ctx.signal`), or should be cut
 * into chunks with `await setImmediate()` (from "node:timers/promises") between
 * them, checking `ctx.signal.aborted` and calling `ctx.heartbeat()` as it goes.
 * Over NATS the delivery of a blocking attempt is kept alive from a thread of its
 * own meanwhile (transport/nats/stall-keeper.ts), so it is not run twice in parallel.
 */
import { TaskCancelledError, UsageError } from "../errors/base.js";
import type { ControlMessage, TaskMessage } from "../transport/messages.js";
import type { Subscription, TaskDelivery } from "../transport/port.js";
import { Attempt, type AttemptEnv, type WorkerCounters } from "./attempt.js";
import { resolveWorkerOptions, type WorkerOptions } from "./options.js";

export interface WorkerStats {
  /** Attempts running now. */
  inFlight: number;
  /** Attempts reported as succeeded. */
  completed: number;
  /** Attempts reported as failed (including timeouts and cancels). */
  failed: number;
  /** Executors that ignored their signal past the grace period and were left behind. */
  abandoned: number;
  /** Deliveries handed back for redelivery (result not stored, worker stopping). */
  requeued: number;
  /** Task messages terminated unrun because their ids do not fit together. */
  undeliverable: number;
  /** Malformed messages the worker's transport dropped (the whole connection's count). */
  malformed: number;
}

export interface WorkerStopOptions {
  /** Let in-flight attempts finish first. Default true; false hands them back at once. */
  graceful?: boolean;
  /** How long a graceful stop waits before handing the rest back for another worker. Default 30000. */
  timeoutMs?: number;
}

export interface Worker {
  readonly id: string;
  /** Subscribe to control messages and start taking tasks. Idempotent. */
  start(): Promise<void>;
  /** Stop taking tasks, finish or hand back in-flight ones, unsubscribe. Idempotent. */
  stop(options?: WorkerStopOptions): Promise<void>;
  stats(): WorkerStats;
}

/** How many cancelled run and dispatch ids a worker remembers, to refuse tasks that arrive after their cancel. */
const REMEMBERED_CANCELS = 1024;

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > REMEMBERED_CANCELS) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}

/**
 * Create a worker for the executors of `registry`.
 * @example
 * const registry = createRegistry();
 * registry.namespace("etl").register("extract", async (input, ctx) => ({ rows: [] }));
 * const worker = createWorker({ transport: createMemoryTransport(), registry, concurrency: 8 });
 * await worker.start();
 * // ... later
 * await worker.stop({ timeoutMs: 10_000 });
 */
export function createWorker(options: WorkerOptions): Worker {
  const resolved = resolveWorkerOptions(options);
  const { transport, clock } = resolved;
  const log = resolved.logger.child({ workerId: resolved.workerId });
  const counters: WorkerCounters = { completed: 0, failed: 0, abandoned: 0, requeued: 0, undeliverable: 0 };
  const inFlight = new Set<Attempt>();
  /** Run cancels cover the attempts of their round and earlier ones, not those of a later partial re-run (run.retried). */
  const cancelledRuns = new Map<string, { reason: string; round: number }>();
  const cancelsRun = (m: TaskMessage, c: { round: number } | undefined): boolean => c !== undefined && (m.round ?? 0) <= c.round;
  const cancelledDispatches = new Map<string, string>();
  let state: "idle" | "running" | "stopping" | "stopped" = "idle";
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  let taskSub: Subscription | undefined;
  let controlSub: Subscription | undefined;

  const env: AttemptEnv = {
    options: resolved,
    log,
    counters,
    cancelledBefore: (m: TaskMessage) => {
      const run = cancelledRuns.get(m.runId);
      return cancelsRun(m, run) ? run?.reason : cancelledDispatches.get(m.dispatchId);
    },
  };

  const onControl = (message: ControlMessage): void => {
    if (message.type === "cancel.run") {
      const cancel = { reason: message.reason, round: message.round ?? 0 };
      remember(cancelledRuns, message.runId, cancel);
      for (const a of inFlight) if (a.message.runId === message.runId && cancelsRun(a.message, cancel)) a.abort(new TaskCancelledError(a.taskId, message.reason));
    } else {
      remember(cancelledDispatches, message.dispatchId, message.reason);
      for (const a of inFlight) if (a.message.dispatchId === message.dispatchId) a.abort(new TaskCancelledError(a.taskId, message.reason));
    }
  };

  const handle = async (delivery: TaskDelivery): Promise<void> => {
    try {
      if (state !== "running") {
        counters.requeued++;
        delivery.nak();
        return;
      }
      const attempt = new Attempt(env, delivery);
      inFlight.add(attempt);
      try {
        await attempt.execute();
      } finally {
        inFlight.delete(attempt);
      }
    } catch (err) {
      // Attempt.execute never rejects; this guards the guard, so no handler ever throws.
      log.error({ err, dispatchId: delivery.message.dispatchId }, "worker: unexpected error in the task handler");
      delivery.nak(resolved.requeueDelayMs);
    }
  };

  const releaseAll = (reason: string): void => {
    for (const a of inFlight) a.release(new TaskCancelledError(a.taskId, reason));
  };

  const doStart = async (): Promise<void> => {
    const namespaces = resolved.namespaces ?? resolved.registry.namespaces();
    if (namespaces.length === 0) {
      throw new UsageError(`worker "${resolved.workerId}" has nothing to serve: its registry holds no executors; register some with registry.namespace(ns).register(name, fn) before start()`);
    }
    controlSub = await transport.subscribeControl(onControl);
    state = "running";
    try {
      taskSub = await transport.consumeTasks({ namespaces, concurrency: resolved.concurrency }, handle);
    } catch (err) {
      state = "idle";
      starting = undefined;
      await controlSub.stop();
      controlSub = undefined;
      throw err;
    }
    log.info({ namespaces, concurrency: resolved.concurrency, transport: transport.kind }, "worker started");
  };

  const doStop = async (graceful: boolean, timeoutMs: number): Promise<void> => {
    await starting?.catch(() => undefined);
    state = "stopping";
    const reason = `worker "${resolved.workerId}" is stopping; the task is handed to another worker`;
    const subStopped = (taskSub ? taskSub.stop() : Promise.resolve()).catch((err: unknown) => {
      log.warn({ err }, "worker: stopping the task subscription failed");
    });
    if (!graceful || timeoutMs <= 0) {
      releaseAll(reason);
    } else if (inFlight.size > 0) {
      let timer: unknown;
      const timedOut = new Promise<true>((resolve) => (timer = clock.setTimeout(() => resolve(true), timeoutMs)));
      const first = await Promise.race([subStopped.then(() => false as const), timedOut]);
      clock.clearTimeout(timer);
      if (first) {
        log.warn({ inFlight: inFlight.size, timeoutMs }, "worker: in-flight attempts did not finish in time; handing them back");
        releaseAll(reason);
      }
    }
    await subStopped;
    await controlSub?.stop().catch((err: unknown) => log.warn({ err }, "worker: stopping the control subscription failed"));
    state = "stopped";
    log.info(counters, "worker stopped");
  };

  return {
    id: resolved.workerId,
    start() {
      if (state === "stopping" || state === "stopped") {
        return Promise.reject(new UsageError(`worker "${resolved.workerId}" was stopped; create a new worker instead of restarting it`));
      }
      starting ??= doStart();
      return starting;
    },
    stop(stopOptions = {}) {
      if (state === "idle" && starting === undefined) {
        state = "stopped";
        return Promise.resolve();
      }
      stopping ??= doStop(stopOptions.graceful ?? true, stopOptions.timeoutMs ?? 30_000);
      return stopping;
    },
    stats: () => ({ inFlight: inFlight.size, ...counters, malformed: transport.stats().malformed }),
  };
}
