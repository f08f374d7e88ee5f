/**
 * The memory transport: the embedded default, where the coordinator and in-process
 * workers share one process and no server. A hub plays the NATS server (task work
 * queues per namespace, run histories, broadcasts); each `hub.connect()` is one
 * client connection. It behaves like the NATS adapter (the same contract suite runs
 * on both): histories with one sequence counter and fenced decisions, asynchronous
 * deliveries, tasks at-least-once and deduplicated by `dispatchId@epoch`.
 *
 * `wire: "strict"` JSON round-trips and zod-parses every message like NATS does
 * (tests, the contract suite); `wire: "fast"`, the default, passes objects by
 * reference (the embedded fast path; see wire.ts).
 *
 * Run histories are kept in memory until deleted (`deleteHistory`, retention), like
 * a limits stream.
 */
import { z } from "zod";
import { TransportClosedError } from "../../errors/base.js";
import { parseOptions } from "../../support/options.js";
import type { Logger } from "../../registry/types.js";
import { DEFAULT_MAX_PAYLOAD } from "../json.js";
import { controlMessageSchema, decisionSchema, reportSubjectSchema, taskMessageSchema } from "../messages.js";
import type { Transport } from "../port.js";
import { Broadcast } from "./broadcast.js";
import { MemoryConnection, type HubCore } from "./connection.js";
import { Drain } from "./drain.js";
import { HistoryStore } from "./history-store.js";
import { createWire, type WireMode } from "./wire.js";
import { WorkQueue } from "./work-queue.js";

export interface MemoryHubOptions {
  /**
   * `"strict"`: JSON round trip and zod parse of every message, payload limit enforced,
   * like NATS. `"fast"`: objects by reference, no JSON step, no parse. Default "fast".
   */
  wire?: WireMode;
  /** `capabilities.maxPayload` in bytes: enforced in strict mode, and in fast mode for task messages and reports unless `payloadLimits` is false. Default 1048576 (nats-server's default). */
  maxPayload?: number;
  /**
   * Fast mode: refuse task messages and reports the NATS adapter would refuse (not JSON,
   * nested too deep, over `maxPayload`), so what runs embedded runs on a fleet. Costs one
   * JSON.stringify per task message and report. Default true.
   */
  payloadLimits?: boolean;
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
  wire: z.enum(["strict", "fast"]).default("fast"),
  maxPayload: z.number().int().min(1024).default(DEFAULT_MAX_PAYLOAD),
  payloadLimits: z.boolean().default(true),
  ackWaitMs: z.number().int().positive().optional(),
  duplicateWindowMs: z.number().int().nonnegative().default(120_000),
  now: z.custom<() => number>((v) => typeof v === "function").default(() => Date.now),
  logger: z.custom<Logger>((v) => typeof v === "object" && v !== null).optional(),
});

export interface MemoryHubStats {
  /** Malformed messages dropped, over all connections (plus injected tasks that name no namespace). */
  malformed: number;
  /** Messages refused over all connections (stored under another run than they name). */
  refused: number;
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
   * is routed by its `executor` string ("ns/name"); a decision or report is stored in
   * the history of `runId` (default: the `runId` string it carries), unfenced; a
   * control message is broadcast. Receivers count a message that fails its schema in
   * `stats().malformed`, one stored under another run than it names in
   * `stats().refused`, and drop it. In strict mode a string is taken as the JSON text.
   */
  injectRaw(kind: "task" | "decision" | "report" | "signal" | "child" | "control", raw: unknown, runId?: string): void;
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
  const resolved = parseOptions(hubOptionsSchema, options, "memory hub options");
  const logger = resolved.logger;
  const wire = createWire(resolved.wire, resolved.maxPayload, resolved.payloadLimits);
  const drain = new Drain((err) => logger?.error({ err }, "memory transport: a delivery failed; handlers should catch their own errors"));

  let malformed = 0;
  let refused = 0;
  let closed = false;
  const connections = new Set<MemoryConnection>();
  const core: HubCore = {
    wire,
    capabilities: { maxPayload: resolved.maxPayload },
    queue: new WorkQueue({
      ackWaitMs: resolved.ackWaitMs,
      wire,
      duplicateWindowMs: resolved.duplicateWindowMs,
      now: resolved.now,
      handlerFailed: (err, message) => {
        logger?.error({ err, dispatchId: message.dispatchId }, "memory transport: a task handler rejected; the delivery was nak'd for redelivery");
      },
    }),
    histories: new HistoryStore(drain),
    control: new Broadcast(drain),
    live: new Broadcast(drain),
    logger,
    countMalformed: () => {
      malformed++;
    },
    countRefused: () => {
      refused++;
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
    injectRaw(kind, raw, runId) {
      if (kind === "task") {
        const executor = (raw as { executor?: unknown } | null)?.executor;
        const slash = typeof executor === "string" ? executor.indexOf("/") : -1;
        if (typeof executor !== "string" || slash < 0) malformed++;
        else core.queue.enqueueRaw(executor.slice(0, slash), wire.raw(taskMessageSchema, raw));
      } else if (kind === "control") {
        core.control.publish("", wire.raw(controlMessageSchema, raw));
      } else {
        const target = runId ?? runIdOf(raw);
        if (target === undefined) malformed++;
        else if (kind === "decision") core.histories.append(target, kind, wire.raw(decisionSchema, raw));
        else core.histories.append(target, "report", wire.raw(reportSubjectSchema, raw));
      }
    },
    stats() {
      const { queued, delayed } = core.queue.counts();
      return { malformed, refused, queued, delayed, connections: connections.size, runs: core.histories.size };
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...connections].map((c) => c.close()));
      core.queue.close();
      core.histories.clear();
      core.control.clear();
      core.live.clear();
      drain.close();
    },
  };
  return { hub, connect };
}

function runIdOf(raw: unknown): string | undefined {
  const runId = (raw as { runId?: unknown } | null)?.runId;
  return typeof runId === "string" ? runId : undefined;
}
