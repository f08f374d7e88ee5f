/**
 * Worker options: what a user passes to `createWorker`, parsed once with zod into a
 * fully resolved object (every default filled in) that the rest of the worker reads.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { parseOptions } from "../support/options.js";
import { isRegistry, type Registry } from "../registry/registry.js";
import type { Logger } from "../registry/types.js";
import { systemClock, type Clock } from "../support/clock.js";
import { createSilentLogger } from "../support/logger.js";
import type { Transport } from "../transport/port.js";

export interface WorkerOptions {
  /** Where tasks come from and results go: `createMemoryTransport()` embedded, the NATS adapter distributed. */
  transport: Transport;
  /** The executors this worker can run. */
  registry: Registry;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Most attempts run at once. Default 4. */
  concurrency?: number;
  /** Shown in attempt events and logs. Default `<hostname>-<pid>-<random>`. */
  workerId?: string;
  /** Executor namespaces to take tasks of. Default: every namespace of the registry, when `start()` is called. */
  namespaces?: readonly string[];
  /** Timers for timeouts, grace periods and progress throttling. Default `systemClock`. */
  clock?: Clock;
  /**
   * After an attempt's signal fires (timeout, cancel), how long an executor that
   * ignores it may keep its slot before the worker reports the failure and moves on.
   * Default 1000.
   */
  abortGraceMs?: number;
  /** Least time between two progress events of one attempt; extra calls are coalesced. Default 250. */
  progressIntervalMs?: number;
  /** Delay before a delivery the worker could not finish (result not stored) is redelivered. Default 1000. */
  requeueDelayMs?: number;
}

export interface ResolvedWorkerOptions {
  readonly transport: Transport;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly concurrency: number;
  readonly workerId: string;
  readonly namespaces: readonly string[] | undefined;
  readonly clock: Clock;
  readonly abortGraceMs: number;
  readonly progressIntervalMs: number;
  readonly requeueDelayMs: number;
}

const isObject = (v: unknown): boolean => typeof v === "object" && v !== null;

const workerOptionsSchema = z.object({
  transport: z.custom<Transport>((v) => isObject(v) && typeof (v as Transport).consumeTasks === "function", {
    message: "must be a Transport, e.g. createMemoryTransport() or the NATS adapter",
  }),
  registry: z.custom<Registry>((v) => isRegistry(v), { message: "must be a registry from createRegistry()" }),
  logger: z.custom<Logger>((v) => isObject(v) && typeof (v as Logger).child === "function", { message: "must be a pino-like logger with child()" }).optional(),
  concurrency: z.number().int().min(1).default(4),
  workerId: z.string().min(1).optional(),
  namespaces: z.array(z.string().min(1)).min(1).readonly().optional(),
  clock: z.custom<Clock>((v) => isObject(v) && typeof (v as Clock).setTimeout === "function", { message: "must be a Clock" }).optional(),
  abortGraceMs: z.number().int().nonnegative().default(1000),
  progressIntervalMs: z.number().int().nonnegative().default(250),
  requeueDelayMs: z.number().int().nonnegative().default(1000),
});

/** The default worker id: `<hostname>-<pid>-<random>`. */
export function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/** Parse and complete the options; an `OptionsError` names every bad field. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const o = parseOptions(workerOptionsSchema, options, "createWorker options");
  return {
    transport: o.transport,
    registry: o.registry,
    logger: o.logger ?? createSilentLogger(),
    concurrency: o.concurrency,
    workerId: o.workerId ?? defaultWorkerId(),
    namespaces: o.namespaces,
    clock: o.clock ?? systemClock,
    abortGraceMs: o.abortGraceMs,
    progressIntervalMs: o.progressIntervalMs,
    requeueDelayMs: o.requeueDelayMs,
  };
}
