/**
 * The NATS JetStream adapter of the Transport port (docs/architecture.md, protocol v3):
 * tasks on the work-queue stream <P>_TASKS (sent by task-dispatch.ts, one durable pull
 * consumer per namespace, explicit ack, deduplicated by `Nats-Msg-Id` = `dispatchId@epoch`,
 * so a new leaseholder re-dispatching an attempt is not dropped as a duplicate of a
 * fenced-out coordinator's message), run histories on <P>_EVENTS (history.ts,
 * follow.ts), live signals on `<p>.live.<runId>` and control broadcasts on
 * `<p>.ctl` (core NATS, not stored). It also implements the fleet's ports
 * (transport/fleet-port.ts): the API's request/reply (api.ts), the `<p>_runs` and
 * `<p>_workers` KV buckets as typed stores (typed-kv.ts), and the housekeeping of the
 * tasks stream (task-stream.ts).
 *
 * Every message in and out is parsed with its zod schema; a malformed incoming one
 * is counted in `stats().malformed` (one on another run's subject in
 * `stats().refused`), logged and dropped, never thrown.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import type { NatsConnection } from "@nats-io/transport-node";
import { TransportClosedError, TransportConnectError, UsageError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { DEFAULT_MAX_PAYLOAD } from "../json.js";
import {
  controlMessageSchema,
  liveSignalSchema,
  type ControlMessage,
  type Decision,
  type LiveSignal,
  type Report,
  type ReportSubjectMessage,
  type SignalMessage,
  type ChildEndedMessage,
  type StoredMessage,
  type TaskMessage,
} from "../messages.js";
import type { ZodType } from "zod";
import type { ApiPort, FleetTransport, StoreName, TaskStreamPort, TypedKv } from "../fleet-port.js";
import type { ConsumeOptions, FollowOptions, Subscription, TaskDelivery, TransportCapabilities, TransportStats } from "../port.js";
import { natsApi } from "./api.js";
import { natsTaskStream } from "./task-stream.js";
import { typedKv } from "./typed-kv.js";
import { encodeMessage } from "./codec.js";
import { createPayloads, type Payloads } from "../payloads.js";
import { natsPayloadStore } from "./payload-store.js";
import { sha256HexOfBytes } from "../../support/hash.js";
import { logConnectionStatus, openConnection, permissionErrorOf } from "./connect.js";
import { subscribeCore, type CoreSubscriptionContext } from "./core-subscription.js";
import { followSubject } from "./follow.js";
import { jsPublisher, type JsPublisher, type PubAck, type PublishOptions } from "./publisher.js";
import { LogLimiter } from "../../support/log-limiter.js";
import { SharedReads } from "../../support/shared-reads.js";
import { appendChildEnd, appendDecision, appendSignal, decodeStored, deleteHistory, lastDecisionSeq, publishReport, readHistory, type HistoryContext } from "./history.js";
import { ensureInfrastructure, ensureNamespaceConsumers, type Buckets } from "./infrastructure.js";
import { natsNames, type NatsNames } from "./names.js";
import type { NamespaceConsumers } from "./task-consumer.js";
import { resolveNatsTransportOptions, type NatsTransportOptions, type ResolvedNatsTransportOptions } from "./options.js";
import { startStallKeeper } from "./stall-keeper.js";
import { startTaskConsumer } from "./task-consumer.js";
import { TaskDispatch } from "./task-dispatch.js";

/**
 * phaseflow's own fleet uses only the Transport port and the fleet ports (`api`,
 * `taskStream`, `store`); the raw `connection`, `js`, `jsm` and `buckets` are for users'
 * and tests' own NATS work on the same connection.
 */
export interface NatsTransport extends FleetTransport {
  readonly kind: "nats";
  readonly options: ResolvedNatsTransportOptions;
  /** Values over `options.inlineBytes` live in the object store `<p>_payloads` (payload-store.ts). */
  readonly payloads: Payloads;
  /** Streams, buckets, subjects and consumer names derived from the prefix. */
  readonly names: NatsNames;
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** KV buckets `<p>_runs` and `<p>_workers`; wrap them with `typedKv` for validated values. */
  readonly buckets: Readonly<Buckets>;
  /** Create or check streams and buckets again (idempotent; `createNatsTransport` already did). */
  ensureInfrastructure(): Promise<void>;
  /**
   * Whether the task message for `dispatchId` at `epoch` is still in the tasks stream: true
   * or false, or undefined when it cannot tell (its publish is under way, the server could
   * not say, or the message was sent elsewhere and the stream holds too many to look
   * through). A message this transport sent is asked for by its sequence; one an earlier
   * holder of the run sent is looked for among the stream's messages (task-presence.ts).
   * (fleet/vanished-tasks.ts)
   */
  taskMessageStored(dispatchId: string, epoch: number): Promise<boolean | undefined>;
  /** `taskMessageStored` of many attempts, in order: those this transport sent are checked together (task-presence.ts `storedSequences`). */
  taskMessagesStored(attempts: readonly { dispatchId: string; epoch: number }[]): Promise<(boolean | undefined)[]>;
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
      // The client turns "no responders" on $JS.API.INFO into JetStreamNotEnabled (exported only via `jserrors`).
      if (!(err instanceof jserrors.JetStreamNotEnabled)) throw err;
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
    throw permissionErrorOf(err, resolved, "this command") ?? err;
  }
}

class NatsTransportImpl implements NatsTransport {
  readonly kind = "nats" as const;
  readonly capabilities: TransportCapabilities;
  readonly api: ApiPort;
  readonly taskStream: TaskStreamPort;
  readonly payloads: Payloads;
  private malformed = 0;
  private refused = 0;
  private reportsDelivered = 0;
  private liveFailures = 0;
  private closed = false;
  private readonly subscriptions = new Set<Subscription>();
  /** Task messages sent, and whether each is still stored (task-dispatch.ts). */
  private readonly tasks: TaskDispatch;
  private readonly history: HistoryContext;
  private readonly core: CoreSubscriptionContext;
  /** PubAcks of task messages and reports through one subscription; made on first use. */
  private publisher: JsPublisher | undefined;
  private readonly limiter: LogLimiter;
  /** Concurrent reads of one run's history share one read (shared-reads.ts). */
  private readonly histories: SharedReads<{ messages: StoredMessage[]; lastDecisionSeq: number }>;

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
    this.capabilities = {
      get maxPayload() {
        return connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
      },
    };
    this.limiter = new LogLimiter(logger);
    this.payloads = createPayloads(natsPayloadStore(connection, jsm, names, logger), { inlineBytes: options.inlineBytes, maxPayload: options.maxPayload, sha256: sha256HexOfBytes });
    this.history = {
      js,
      jsm,
      publish: (subject, data, opts) => this.hotPublisher().publish(subject, data, opts),
      names,
      logger,
      limiter: this.limiter,
      maxPayload: () => connection.info?.max_payload,
      payloads: this.payloads,
      onMalformed: () => this.malformed++,
      onRefused: () => this.refused++,
    };
    this.core = { connection, logger, limiter: this.limiter, onMalformed: () => this.malformed++ };
    this.histories = new SharedReads((runId) => readHistory(this.history, runId));
    this.api = natsApi(connection, names);
    this.taskStream = natsTaskStream(connection, () => this.jsm, names);
    const publish = (subject: string, data: Uint8Array, opts: PublishOptions): Promise<PubAck> => this.hotPublisher().publish(subject, data, opts);
    this.tasks = new TaskDispatch({ jsm, names, logger, payloads: this.payloads, maxPayload: () => connection.info?.max_payload, publish, isClosed: () => this.closed });
  }

  store<T>(name: StoreName, schema: ZodType<T>): TypedKv<T> {
    return typedKv(() => this.buckets[name], schema, this.logger, this.names.buckets[name]);
  }

  async ensureInfrastructure(): Promise<void> {
    this.assertOpen("ensure its infrastructure");
    const buckets = await ensureInfrastructure(this.connection, this.jsm, this.names, this.options);
    this.buckets.runs = buckets.runs;
    this.buckets.workers = buckets.workers;
  }

  async appendDecision(decision: Decision, expectedLastSeq: number): Promise<number> {
    this.assertOpen("append a decision");
    return appendDecision(this.history, decision, expectedLastSeq);
  }

  async publishReport(report: Report): Promise<void> {
    this.assertOpen("publish a report");
    await publishReport(this.history, report);
  }

  async appendSignal(signal: SignalMessage): Promise<{ duplicate: boolean }> {
    this.assertOpen("send a signal");
    return appendSignal(this.history, signal);
  }

  async appendChildEnd(message: ChildEndedMessage): Promise<{ duplicate: boolean }> {
    this.assertOpen("store a child run's end");
    return appendChildEnd(this.history, message);
  }

  publishLive(signal: LiveSignal): void {
    if (this.closed) return this.liveFailed(new TransportClosedError("nats", "publish a live signal"), signal);
    try {
      const data = encodeMessage(liveSignalSchema, signal, `live signal "${signal.type}" of run "${signal.runId}"`, this.connection.info?.max_payload);
      this.connection.publish(this.names.subjects.live(signal.runId), data);
    } catch (err) {
      this.liveFailed(err, signal);
    }
  }

  async readHistory(runId: string): Promise<{ messages: StoredMessage[]; lastDecisionSeq: number }> {
    this.assertOpen("read a run's history");
    // Joined reads share the result: each caller gets its own array (the messages themselves are read-only).
    const { messages, lastDecisionSeq } = await this.histories.get(runId);
    return { messages: messages.slice(), lastDecisionSeq };
  }

  async lastDecisionSeq(runId: string): Promise<number> {
    this.assertOpen("read a run's last decision");
    return lastDecisionSeq(this.history, runId);
  }

  async subscribeReports(runId: string, afterSeq: number, handler: (seq: number, report: ReportSubjectMessage) => void): Promise<Subscription> {
    this.assertOpen("subscribe to reports");
    const what = `reports of run "${runId}"`;
    const subject = this.names.subjects.reports(runId);
    const sub = await followSubject(this.history, { subject, afterSeq, what, isClosed: () => this.connection.isClosed() }, (m) => {
      const read = decodeStored(this.history, runId, m.subject, m.seq, m.data);
      const message = read.message;
      if (message === undefined || message.kind === "decision") return;
      this.reportsDelivered++;
      this.deliver(what, () => handler(read.seq, message));
    });
    return this.track(sub);
  }

  async followHistory(runId: string, afterSeq: number, handler: (stored: StoredMessage) => void, options: FollowOptions = {}): Promise<Subscription> {
    this.assertOpen("follow a run's history");
    const what = `history of run "${runId}"`;
    const subject = options.decisionsOnly === true ? this.names.subjects.decisions(runId) : this.names.subjects.history(runId);
    const sub = await followSubject(this.history, { subject, afterSeq, what, isClosed: () => this.connection.isClosed() }, (m) => {
      const read = decodeStored(this.history, runId, m.subject, m.seq, m.data);
      const message = read.message;
      if (message !== undefined) this.deliver(what, () => handler({ seq: read.seq, message }));
    });
    return this.track(sub);
  }

  async subscribeLive(runId: string, handler: (signal: LiveSignal) => void): Promise<Subscription> {
    this.assertOpen("subscribe to live signals");
    return this.track(await subscribeCore(this.core, this.names.subjects.live(runId), liveSignalSchema, "live signal", handler));
  }

  async dispatch(task: TaskMessage): Promise<void> {
    this.assertOpen("dispatch a task");
    await this.tasks.send(task);
  }

  async taskMessageStored(dispatchId: string, epoch: number): Promise<boolean | undefined> {
    return this.tasks.stored(dispatchId, epoch);
  }

  async taskMessagesStored(attempts: readonly { dispatchId: string; epoch: number }[]): Promise<(boolean | undefined)[]> {
    return this.tasks.storedMany(attempts);
  }

  async consumeTasks(options: ConsumeOptions, handler: (delivery: TaskDelivery) => Promise<void>): Promise<Subscription> {
    this.assertOpen("consume tasks");
    if (options.namespaces.length === 0) throw new UsageError("consumeTasks needs at least one namespace; pass the namespaces of the executors this worker registered");
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
      throw new UsageError(`consumeTasks concurrency must be a positive integer, got ${options.concurrency}; pass e.g. --concurrency 4`);
    }
    const keepAliveMs = options.keepAliveMs ?? Math.floor(this.options.ackWaitMs / 3);
    if (!Number.isFinite(keepAliveMs) || keepAliveMs <= 0 || keepAliveMs >= this.options.ackWaitMs) {
      throw new UsageError(`consumeTasks keepAliveMs must be above 0 and below ackWaitMs (${this.options.ackWaitMs}), got ${keepAliveMs}; leave it out for ackWaitMs / 3`);
    }
    const namespaces = [...new Set(options.namespaces)];
    const consumers: NamespaceConsumers[] = [];
    for (const ns of namespaces) {
      const durables = await ensureNamespaceConsumers(this.jsm, this.names, ns, this.options);
      consumers.push({ durables, otherLevels: this.names.subjects.otherLevelTasks(ns), defaultLevel: this.names.subjects.levelTasks(ns, 3) });
    }
    // A thread of its own keeps deliveries alive while an executor blocks the event loop (needs servers to connect to).
    const stallKeeper = this.options.stallKeeper && this.options.servers.length > 0 ? startStallKeeper(this.options, keepAliveMs, this.logger) : undefined;
    const sub = await startTaskConsumer(
      {
        connection: this.connection,
        inboxPrefix: this.options.inboxPrefix ?? (this.connection as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix,
        isClosed: () => this.connection.isClosed(),
        stream: this.names.streams.tasks,
        keepAliveMs,
        logger: this.logger,
        onMalformed: () => this.malformed++,
        stallKeeper,
      },
      consumers,
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
    return this.track(await subscribeCore(this.core, this.names.subjects.control, controlMessageSchema, "control message", handler));
  }

  async deleteHistory(runId: string): Promise<void> {
    this.assertOpen("delete a run's history");
    await deleteHistory(this.history, runId);
  }

  stats(): TransportStats {
    return { malformed: this.malformed, refused: this.refused, reportsDelivered: this.reportsDelivered, historyReads: this.histories.reads };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.limiter.flush();
    await Promise.allSettled([...this.subscriptions].map((s) => s.stop()));
    this.subscriptions.clear();
    if (this.ownsConnection && !this.connection.isClosed()) {
      await this.connection.drain().catch((err: unknown) => this.logger.warn({ err }, "draining the NATS connection on close failed; unflushed live signals may be lost"));
    }
    this.publisher?.close();
  }

  private hotPublisher(): JsPublisher {
    if (this.publisher === undefined) {
      // A connection passed in may carry its own inbox prefix (the permissions allow replies only below it).
      const own = (this.connection as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
      this.publisher = jsPublisher(this.connection, { inboxPrefix: this.options.inboxPrefix ?? own });
    }
    return this.publisher;
  }

  /** Run a subscriber's handler; a throw is logged and the next message still arrives. */
  private deliver(what: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.logger.error({ err }, `handler of ${what} threw; message skipped`);
    }
  }

  /** Live signals are best effort: count and log (the first, then every 100th) instead of throwing. */
  private liveFailed(err: unknown, signal: LiveSignal): void {
    this.liveFailures++;
    if (this.liveFailures === 1 || this.liveFailures % 100 === 0) {
      this.logger.warn({ err, runId: signal.runId, type: signal.type, failures: this.liveFailures }, "live signal not sent; viewers miss it (runs are unaffected)");
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
