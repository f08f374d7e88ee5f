/**
 * The NATS JetStream adapter of the Transport port (DESIGN.md §3): tasks on the
 * work-queue stream <P>_TASKS (one durable pull consumer per namespace, explicit
 * ack, deduplicated by `Nats-Msg-Id` = dispatchId), run events on <P>_EVENTS,
 * control broadcasts on core NATS `<p>.ctl`. It also hands the coordinator service
 * what it needs beyond the port: the resolved names, the connection, JetStream
 * handles and the `<p>_runs` / `<p>_workers` KV buckets.
 *
 * Every message in and out is parsed with its zod schema; a malformed incoming one
 * is counted in `stats().malformed`, logged and dropped, never thrown.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { TransportClosedError, TransportConnectError, TransportOperationError, UsageError, WireMessageInvalidError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { controlMessageSchema, taskMessageSchema, type ControlMessage, type RunEvent, type TaskMessage } from "../messages.js";
import type { ConsumeOptions, Subscription, TaskDelivery, Transport, TransportStats } from "../port.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { logConnectionStatus, openConnection } from "./connect.js";
import { publishRunEvent, readStoredRunEvents, subscribeRunEvents, type EventsContext } from "./events.js";
import { ensureInfrastructure, ensureNamespaceConsumer, type Buckets } from "./infrastructure.js";
import { natsNames, type NatsNames } from "./names.js";
import { resolveNatsTransportOptions, type NatsTransportOptions, type ResolvedNatsTransportOptions } from "./options.js";
import { startTaskConsumer } from "./task-consumer.js";

export interface NatsTransport extends Transport {
  readonly kind: "nats";
  readonly options: ResolvedNatsTransportOptions;
  /** Streams, buckets, subjects and consumer names derived from the prefix. */
  readonly names: NatsNames;
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** KV buckets `<p>_runs` and `<p>_workers`; wrap them with `typedKv` for validated values. */
  readonly buckets: Readonly<Buckets>;
  /** Create or check streams and buckets again (idempotent; `createNatsTransport` already did). */
  ensureInfrastructure(): Promise<void>;
}

/**
 * Connect (or reuse `options.connection`), ensure the streams and buckets exist, and return the transport.
 * Throws `TransportConnectError` when the server is unreachable or has no JetStream, and
 * `InfrastructureMismatchError` when an existing stream or bucket has an unusable config.
 *
 * @example
 * const transport = await createNatsTransport({ servers: "nats://127.0.0.1:4222", prefix: "pf" });
 * const sub = await transport.consumeTasks({ namespaces: ["etl"], concurrency: 4 }, async (d) => { ...; await d.ack(); });
 * await transport.close();
 */
export async function createNatsTransport(options: NatsTransportOptions): Promise<NatsTransport> {
  const resolved = resolveNatsTransportOptions(options);
  const names = natsNames(resolved.prefix);
  const owned = resolved.connection === undefined;
  const nc = resolved.connection ?? (await openConnection(resolved));
  const logger = resolved.logger.child({ transport: "nats", prefix: names.prefix });
  try {
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc);
    } catch (err) {
      if (!/jetstream|no responders/i.test(err instanceof Error ? `${err.name} ${err.message}` : String(err))) throw err;
      throw new TransportConnectError(
        "NATS_JETSTREAM_UNAVAILABLE",
        resolved.servers,
        `NATS server ${nc.getServer()} has no JetStream for this account; start it with "nats-server -js" (or enable jetstream in its config)`,
        { cause: err },
      );
    }
    const buckets = await ensureInfrastructure(nc, jsm, names, resolved);
    if (owned) logConnectionStatus(nc, logger);
    return new NatsTransportImpl(resolved, names, nc, jetstream(nc), jsm, buckets, owned, logger);
  } catch (err) {
    if (owned) await nc.close().catch(() => undefined);
    throw err;
  }
}

class NatsTransportImpl implements NatsTransport {
  readonly kind = "nats" as const;
  private malformed = 0;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();
  private readonly events: EventsContext;

  constructor(
    readonly options: ResolvedNatsTransportOptions,
    readonly names: NatsNames,
    readonly connection: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly buckets: Buckets,
    private readonly ownsConnection: boolean,
    private readonly logger: Logger,
  ) {
    this.events = {
      js,
      jsm,
      names,
      logger,
      maxPayload: () => connection.info?.max_payload,
      onMalformed: () => this.malformed++,
    };
  }

  async ensureInfrastructure(): Promise<void> {
    this.assertOpen("ensure its infrastructure");
    const buckets = await ensureInfrastructure(this.connection, this.jsm, this.names, this.options);
    this.buckets.runs = buckets.runs;
    this.buckets.workers = buckets.workers;
  }

  async publishEvent(event: RunEvent): Promise<void> {
    this.assertOpen("publish an event");
    await publishRunEvent(this.events, event);
  }

  async subscribeEvents(handler: (event: RunEvent) => void): Promise<Subscription> {
    this.assertOpen("subscribe to events");
    return this.track(await subscribeRunEvents(this.events, handler));
  }

  async readRunEvents(runId: string): Promise<RunEvent[]> {
    this.assertOpen("read run events");
    return readStoredRunEvents(this.events, runId);
  }

  async dispatch(task: TaskMessage): Promise<void> {
    this.assertOpen("dispatch a task");
    const what = describeTask(task);
    const slash = typeof task.executor === "string" ? task.executor.indexOf("/") : -1;
    if (slash <= 0) throw new WireMessageInvalidError(what, [{ path: ["executor"], message: `must be "namespace/name", got ${JSON.stringify(task.executor)}` }]);
    const subject = this.names.subjects.task(task.executor.slice(0, slash), task.executor.slice(slash + 1));
    const data = encodeMessage(taskMessageSchema, task, what, this.connection.info?.max_payload);
    try {
      const ack = await this.js.publish(subject, data, { msgID: task.dispatchId });
      if (ack.duplicate) this.logger.debug({ dispatchId: task.dispatchId }, "task already dispatched; duplicate dropped by JetStream");
    } catch (err) {
      throw new TransportOperationError(
        "NATS_PUBLISH_FAILED",
        `${what} was not stored in stream "${this.names.streams.tasks}": ${err instanceof Error ? err.message : String(err)}; check that nats-server is up with JetStream, then retry`,
        { cause: err },
      );
    }
  }

  async consumeTasks(options: ConsumeOptions, handler: (delivery: TaskDelivery) => Promise<void>): Promise<Subscription> {
    this.assertOpen("consume tasks");
    if (options.namespaces.length === 0) throw new UsageError("consumeTasks needs at least one namespace; pass the namespaces of the executors this worker registered");
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new UsageError(`consumeTasks concurrency must be a positive integer, got ${options.concurrency}; pass e.g. --concurrency 4`);
    }
    const namespaces = [...new Set(options.namespaces)];
    const durables: string[] = [];
    for (const ns of namespaces) durables.push(await ensureNamespaceConsumer(this.jsm, this.names, ns, this.options));
    const sub = await startTaskConsumer(
      { js: this.js, isClosed: () => this.connection.isClosed(), stream: this.names.streams.tasks, ackWaitMs: this.options.ackWaitMs, logger: this.logger, onMalformed: () => this.malformed++ },
      durables,
      { namespaces, concurrency: options.concurrency },
      handler,
    );
    return this.track(sub);
  }

  async publishControl(message: ControlMessage): Promise<void> {
    this.assertOpen("publish a control message");
    const data = encodeMessage(controlMessageSchema, message, `control message "${message.type}" for run "${message.runId}"`, this.connection.info?.max_payload);
    this.connection.publish(this.names.subjects.control, data);
    await this.connection.flush();
  }

  async subscribeControl(handler: (message: ControlMessage) => void): Promise<Subscription> {
    this.assertOpen("subscribe to control messages");
    const sub = this.connection.subscribe(this.names.subjects.control, {
      callback: (err, msg) => {
        if (err) {
          this.logger.error({ err }, "control subscription failed");
          return;
        }
        const decoded = decodeMessage(controlMessageSchema, msg.data);
        if (!decoded.ok) {
          this.malformed++;
          this.logger.warn({ subject: msg.subject, reason: decoded.reason }, "malformed control message dropped");
          return;
        }
        try {
          handler(decoded.value);
        } catch (e) {
          this.logger.error({ err: e, type: decoded.value.type }, "control handler threw; message skipped");
        }
      },
    });
    // Make sure the server knows the subscription before we report it ready.
    await this.connection.flush();
    return this.track({
      stop: () => {
        if (!sub.isClosed()) sub.unsubscribe();
        return Promise.resolve();
      },
    });
  }

  stats(): TransportStats {
    return { malformed: this.malformed };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
    this.subscriptions.clear();
    if (this.ownsConnection && !this.connection.isClosed()) {
      await this.connection.drain().catch((err: unknown) => this.logger.debug({ err }, "drain on close failed"));
    }
  }

  private track(sub: Subscription): Subscription {
    const tracked: Subscription = {
      stop: async () => {
        this.subscriptions.delete(tracked);
        await sub.stop();
      },
    };
    this.subscriptions.add(tracked);
    return tracked;
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new TransportClosedError("nats", operation);
  }
}

function describeTask(task: TaskMessage): string {
  return `task "${task.state}/${task.task}" (run "${task.runId}", executor "${task.executor}", attempt ${task.attempt})`;
}
