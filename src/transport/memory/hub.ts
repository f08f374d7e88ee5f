/**
 * The memory transport: the embedded default, where the coordinator and in-process
 * workers share one process and no server. A hub plays the NATS server (task work
 * queues per namespace, run histories, broadcasts); each `hub.connect()` is one
 * client connection. It is built to behave like the NATS adapter, not to be faster
 * than it: messages are JSON round-tripped and schema-checked, deliveries are
 * asynchronous, at-least-once and deduplicated by `dispatchId`.
 *
 * Run histories are kept in memory for the hub's lifetime (like a limits stream
 * without limits); an embedded process that runs very many runs should create a
 * hub per batch or use NATS.
 */
import { z } from "zod";
import { TransportClosedError, UsageError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { controlMessageSchema, runEventSchema, type ControlMessage, type RunEvent } from "../messages.js";
import type { Transport } from "../port.js";
import { decodeIncoming } from "./codec.js";
import { MemoryConnection, type HubCore } from "./connection.js";
import { Fanout, Malformed } from "./fanout.js";
import { WorkQueue } from "./work-queue.js";

export interface MemoryHubOptions {
  /**
   * Redeliver a delivery that is neither settled nor kept alive with `working()`
   * within this many ms, like JetStream's `ack_wait`. Default: never.
   */
  ackWaitMs?: number;
  /** How long a `dispatchId` is remembered to drop a duplicate dispatch. Default 120000 (JetStream's duplicate window). */
  duplicateWindowMs?: number;
  /** Epoch ms, for the duplicate window. Default `Date.now`. */
  now?: () => number;
  /** Where errors thrown by subscription handlers are logged. Default: dropped. */
  logger?: Logger;
}

const hubOptionsSchema = z.object({
  ackWaitMs: z.number().int().positive().optional(),
  duplicateWindowMs: z.number().int().nonnegative().default(120_000),
  now: z.custom<() => number>((v) => typeof v === "function").default(() => Date.now),
  logger: z.custom<Logger>((v) => typeof v === "object" && v !== null).optional(),
});

export interface MemoryHubStats {
  /** Malformed messages dropped, over all connections (plus injected tasks that name no namespace). */
  malformed: number;
  /** Task messages ready for delivery. */
  queued: number;
  /** Task messages waiting out a nak delay. */
  delayed: number;
  connections: number;
  /** Runs with a stored history. */
  runs: number;
}

export interface MemoryHub {
  /** A new connection: a `Transport` sharing this hub's queues, histories and broadcasts. */
  connect(): Transport;
  /**
   * Put a raw, unchecked message on the "wire", for tests of malformed input. A task
   * is routed by its `executor` string ("ns/name"), an event is stored under its
   * `runId` string (when it has one) and broadcast; receivers parse it, count it
   * in `stats().malformed` and drop it when it fails its schema.
   */
  injectRaw(kind: "task" | "event" | "control", raw: unknown): void;
  stats(): MemoryHubStats;
  /** Close every connection and drop all queued messages and timers. */
  close(): Promise<void>;
}

/**
 * Create an in-process hub; connect the coordinator and workers to it.
 * @example
 * const hub = createMemoryHub();
 * const engine = createEngine({ registry, transport: hub.connect() });
 * const worker = createWorker({ registry, transport: hub.connect() });
 */
export function createMemoryHub(options: MemoryHubOptions = {}): MemoryHub {
  return buildHub(options).hub;
}

/**
 * The embedded default: a new hub with one connection, shared by the coordinator and
 * the in-process worker. Closing the transport closes its hub.
 * @example
 * const transport = createMemoryTransport();
 * const worker = createWorker({ registry, transport });
 */
export function createMemoryTransport(options: MemoryHubOptions = {}): Transport {
  const { hub, connect } = buildHub(options);
  return connect(() => hub.close());
}

function buildHub(options: MemoryHubOptions): { hub: MemoryHub; connect: (onClose?: () => Promise<void>) => MemoryConnection } {
  const parsed = hubOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new UsageError(`memory hub options are invalid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const resolved = parsed.data;
  const logger = resolved.logger;
  const logHandlerError = (what: string) => (err: unknown) => {
    logger?.error({ err }, `memory transport: a ${what} handler threw; handlers should catch their own errors`);
  };

  let malformed = 0;
  let closed = false;
  const histories = new Map<string, (RunEvent | Malformed)[]>();
  const connections = new Set<MemoryConnection>();
  const core: HubCore = {
    queue: new WorkQueue({
      ackWaitMs: resolved.ackWaitMs,
      duplicateWindowMs: resolved.duplicateWindowMs,
      now: resolved.now,
      handlerFailed: (err, message) => {
        logger?.error({ err, dispatchId: message.dispatchId }, "memory transport: a task handler rejected; the delivery was nak'd for redelivery");
      },
    }),
    events: new Fanout<RunEvent>(logHandlerError("event")),
    control: new Fanout<ControlMessage>(logHandlerError("control")),
    appendEvent(event) {
      const runId = event instanceof Malformed ? runIdOf(event.raw) : event.runId;
      if (runId !== undefined) {
        let history = histories.get(runId);
        if (history === undefined) histories.set(runId, (history = []));
        history.push(event);
      }
      core.events.publish(event);
    },
    history: (runId) => histories.get(runId) ?? [],
    countMalformed: () => {
      malformed++;
    },
    disconnected: (connection) => {
      connections.delete(connection);
    },
  };

  const connect = (onClose?: () => Promise<void>): MemoryConnection => {
    if (closed) throw new TransportClosedError("memory hub", "connect");
    const connection = new MemoryConnection(core, onClose);
    connections.add(connection);
    return connection;
  };

  const hub: MemoryHub = {
    connect: () => connect(),
    injectRaw(kind, raw) {
      if (kind === "task") {
        const executor = (raw as { executor?: unknown } | null)?.executor;
        const slash = typeof executor === "string" ? executor.indexOf("/") : -1;
        if (typeof executor !== "string" || slash < 0) malformed++;
        else core.queue.enqueueRaw(executor.slice(0, slash), raw);
      } else if (kind === "event") {
        core.appendEvent(decodeIncoming(runEventSchema, raw) ?? new Malformed(raw));
      } else {
        core.control.publish(decodeIncoming(controlMessageSchema, raw) ?? new Malformed(raw));
      }
    },
    stats() {
      const { queued, delayed } = core.queue.counts();
      return { malformed, queued, delayed, connections: connections.size, runs: histories.size };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...connections].map((c) => c.close()));
      core.queue.close();
      core.events.close();
      core.control.close();
    },
  };
  return { hub, connect };
}

function runIdOf(raw: unknown): string | undefined {
  const runId = (raw as { runId?: unknown } | null)?.runId;
  return typeof runId === "string" ? runId : undefined;
}
