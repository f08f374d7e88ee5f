/**
 * A worker process's body, over NATS: connects, runs the worker library on the
 * namespaces of its registry, heartbeats into `<p>_workers`, and on stop stops taking
 * tasks, lets in-flight attempts finish (or hands them back), deletes its heartbeat
 * and drains the connection. `phaseflow worker` wraps this with signal handling.
 */
import { hostname } from "node:os";
import type { Registry } from "../registry/registry.js";
import type { Logger } from "../registry/types.js";
import { createSilentLogger } from "../support/logger.js";
import { createNatsTransport, type NatsTransport } from "../transport/nats/transport.js";
import type { NatsTransportOptions } from "../transport/nats/options.js";
import { natsNames } from "../transport/nats/names.js";
import { inboxPrefixOf } from "../transport/nats/permissions.js";
import { createWorker, type Worker } from "../worker/worker.js";
import { defaultWorkerId } from "../worker/options.js";
import { guardStrayErrors } from "../worker/stray-errors.js";
import { HEARTBEAT_INTERVAL_MS, startHeartbeat, workerHeartbeatSchema } from "./heartbeat.js";

export interface NatsWorkerOptions {
  /** How to reach NATS (servers, prefix, credentials...). */
  nats: Omit<NatsTransportOptions, "logger">;
  registry: Registry;
  /** Most attempts at once. Default 4. */
  concurrency?: number;
  /** Default `<hostname>-<pid>-<random>`. */
  workerId?: string;
  /** Default: every namespace of the registry. */
  namespaces?: string[];
  /** Default: silent. */
  logger?: Logger;
  /** Default 2000. */
  heartbeatIntervalMs?: number;
  /**
   * Catch executors' stray errors (a throw from a timer, an unhandled rejection) with
   * process-wide handlers, fail the attempt they came from and keep serving, instead of
   * letting Node end the process. Default true; set false when the host process handles them itself.
   */
  guardStrayErrors?: boolean;
}

export interface NatsWorker {
  readonly id: string;
  readonly transport: NatsTransport;
  readonly worker: Worker;
  /** Graceful by default: in-flight attempts finish (up to `timeoutMs`, default 30000), then the rest is handed back. */
  stop(options?: { graceful?: boolean; timeoutMs?: number }): Promise<void>;
}

/**
 * Start a worker that serves `registry` over NATS.
 * @example
 * const w = await startNatsWorker({ nats: { servers: "nats://127.0.0.1:4222" }, registry, concurrency: 8 });
 * process.on("SIGTERM", () => void w.stop());
 */
export async function startNatsWorker(options: NatsWorkerOptions): Promise<NatsWorker> {
  const logger = options.logger ?? createSilentLogger();
  const workerId = options.workerId ?? defaultWorkerId();
  const concurrency = options.concurrency ?? 4;
  const unguard = options.guardStrayErrors === false ? () => undefined : guardStrayErrors(logger);
  let transport: NatsTransport;
  try {
    transport = await createNatsTransport({
      ...options.nats,
      logger,
      name: options.nats.name ?? `phaseflow-worker ${workerId}`,
      inboxPrefix: options.nats.inboxPrefix ?? inboxPrefixOf(natsNames(options.nats.prefix), "worker"),
    });
  } catch (err) {
    unguard();
    throw err;
  }
  const namespaces = options.namespaces ?? options.registry.namespaces();
  const worker = createWorker({ transport, registry: options.registry, logger, concurrency, workerId, namespaces });
  const executors = options.registry.keys().filter((k) => namespaces.includes(k.split("/")[0]!));
  const startedAt = Date.now();
  const heartbeats = transport.store("workers", workerHeartbeatSchema);
  const loop = startHeartbeat(
    heartbeats,
    () => {
      const s = worker.stats();
      return {
        workerId,
        host: hostname(),
        pid: process.pid,
        namespaces: [...namespaces],
        executors,
        concurrency,
        inFlight: s.inFlight,
        completed: s.completed,
        failed: s.failed,
        malformed: s.malformed,
        undeliverable: s.undeliverable,
        startedAt,
        intervalMs: options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
        at: Date.now(),
      };
    },
    logger,
    options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS,
  );
  try {
    await worker.start();
    await loop.beat();
  } catch (err) {
    await loop.stop();
    await transport.close().catch(() => undefined);
    unguard();
    throw err;
  }
  logger.info({ workerId, namespaces, executors, concurrency }, "worker started");
  let stopping: Promise<void> | undefined;
  return {
    id: workerId,
    transport,
    worker,
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        logger.info({ workerId }, "worker stopping: no new tasks; finishing in-flight ones");
        await worker.stop({ graceful: stopOptions.graceful ?? true, timeoutMs: stopOptions.timeoutMs ?? 30_000 });
        await loop.stop();
        await transport.close();
        unguard();
        logger.info({ workerId, ...worker.stats() }, "worker stopped");
      })();
      return stopping;
    },
  };
}
