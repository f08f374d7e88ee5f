/**
 * The NATS JetStream adapter of the Transport port (docs/architecture.md, protocol v3):
 * tasks on the work-queue stream <P>_TASKS (one durable pull consumer per
 * namespace, explicit ack, deduplicated by `Nats-Msg-Id` = `dispatchId@epoch`, so
 * a new leaseholder re-dispatching an attempt is not dropped as a duplicate of a
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
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import type { NatsConnection } from "@nats-io/transport-node";
import { TransportClosedError, TransportConnectError, TransportOperationError, UsageError, WireMessageInvalidError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { DEFAULT_MAX_PAYLOAD } from "../json.js";
import {
  controlMessageSchema,
  liveSignalSchema,
  taskMessageSchema,
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
import { encodeFitting, encodeMessage } from "./codec.js";
import { createPayloads, type Payloads } from "../payloads.js";
import { natsPayloadStore } from "./payload-store.js";
import { sha256HexOfBytes } from "../../support/hash.js";
import { logConnectionStatus, openConnection, permissionErrorOf } from "./connect.js";
import { subscribeCore, type CoreSubscriptionContext } from "./core-subscription.js";
import { followSubject } from "./follow.js";
import { jsPublisher, type JsPublisher } from "./publisher.js";
import { LogLimiter } from "../../support/log-limiter.js";
import { SharedReads } from "../../support/shared-reads.js";
import { RecentMap } from "../../support/recent-map.js";
import { appendChildEnd, appendDecision, appendSignal, decodeStored, deleteHistory, lastDecisionSeq, publishReport, PUBLISH_RETRIES, readHistory, type HistoryContext } from "./history.js";
import { ensureInfrastructure, ensureNamespaceConsumers, type Buckets } from "./infrastructure.js";
import { natsNames, type NatsNames } from "./names.js";
import type { NamespaceConsumers } from "./task-consumer.js";
import { resolveNatsTransportOptions, type NatsTransportOptions, type ResolvedNatsTransportOptions } from "./options.js";
import { startStallKeeper } from "./stall-keeper.js";
import { startTaskConsumer } from "./task-consumer.js";
import { storedSequences, taskMessagesPresent } from "./task-presence.js";
import { splitTraceContext, traceHeaderBytes } from "./trace-headers.js";

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

/** Stream sequences of the task messages a transport sent: at least the newest half of this many are kept (one entry is ~100 bytes). */
const MAX_REMEMBERED_DISPATCHES = 100_000;
/** One read of the tasks stream answers the checks made within this long of it. */
const PRESENCE_REUSE_MS = 500;

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
  /** `dispatchId@epoch` -> stream sequence of the task messages sent here, oldest first. */
  private readonly dispatchedSeqs = new RecentMap<string, number>(MAX_REMEMBERED_DISPATCHES);
  /** `dispatchId@epoch` of the task messages being published now (not stored yet, or their ack is on its way). */
  private readonly dispatching = new Set<string>();
  /** One read of the tasks stream shared by the checks of one round (task-presence.ts). */
  private presence: { at: number; ids: Promise<Set<string> | undefined> } | undefined;
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
    const what = describeTask(task);
    const slash = typeof task.executor === "string" ? task.executor.indexOf("/") : -1;
    if (slash <= 0) throw new WireMessageInvalidError(what, [{ path: ["executor"], message: `must be "namespace/name", got ${JSON.stringify(task.executor)}` }]);
    const subject = this.names.subjects.task(task.executor.slice(0, slash), task.executor.slice(slash + 1), task.priority);
    // The trace context goes in headers (traceparent, tracestate), the rest in the body.
    const { body, headers } = splitTraceContext(task);
    const max = this.connection.info?.max_payload;
    const data = await encodeFitting(taskMessageSchema, body, what, max === undefined || headers === undefined ? max : max - traceHeaderBytes(task), this.payloads);
    const msgID = `${task.dispatchId}@${task.epoch}`;
    this.dispatching.add(msgID);
    try {
      const ack = await this.hotPublisher().publish(subject, data, headers === undefined ? { msgID, retries: PUBLISH_RETRIES } : { msgID, headers, retries: PUBLISH_RETRIES });
      if (ack.duplicate) this.logger.debug({ msgID }, "task already dispatched; duplicate dropped by JetStream");
      this.dispatchedSeqs.set(msgID, ack.seq);
    } catch (err) {
      throw new TransportOperationError(
        "NATS_PUBLISH_FAILED",
        `${what} was not stored in stream "${this.names.streams.tasks}": ${err instanceof Error ? err.message : String(err)}; check that nats-server is up with JetStream, then retry`,
        { cause: err },
      );
    } finally {
      this.dispatching.delete(msgID);
    }
  }

  async taskMessageStored(dispatchId: string, epoch: number): Promise<boolean | undefined> {
    const msgID = `${dispatchId}@${epoch}`;
    if (this.closed || this.dispatching.has(msgID)) return undefined;
    const seq = this.dispatchedSeqs.get(msgID);
    if (seq === undefined) return this.storedBySomeoneElse(dispatchId);
    try {
      // null: no message at that sequence (acked, terminated or deleted).
      return (await this.jsm.streams.getMessage(this.names.streams.tasks, { seq })) !== null;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return false;
      this.logger.debug({ err, msgID }, "could not look a task message up; asked again later");
      return undefined;
    }
  }

  async taskMessagesStored(attempts: readonly { dispatchId: string; epoch: number }[]): Promise<(boolean | undefined)[]> {
    const out: (boolean | undefined)[] = attempts.map(() => undefined);
    const bySeq: { i: number; seq: number }[] = [];
    for (const [i, a] of attempts.entries()) {
      const msgID = `${a.dispatchId}@${a.epoch}`;
      if (this.closed || this.dispatching.has(msgID)) continue;
      const seq = this.dispatchedSeqs.get(msgID);
      if (seq === undefined) out[i] = await this.storedBySomeoneElse(a.dispatchId);
      else bySeq.push({ i, seq });
    }
    if (bySeq.length === 0) return out;
    let stored: boolean[] | undefined;
    try {
      stored = await storedSequences(this.jsm, this.names.streams.tasks, bySeq.map((x) => x.seq));
    } catch (err) {
      this.logger.debug({ err }, "could not read the tasks stream's state; asked again later");
      return out;
    }
    if (stored === undefined) {
      for (const { i } of bySeq) out[i] = await this.taskMessageStored(attempts[i]!.dispatchId, attempts[i]!.epoch);
    } else {
      for (const [k, { i }] of bySeq.entries()) out[i] = stored[k];
    }
    return out;
  }

  /** A task message this transport did not send (an earlier holder of the run did): look for it in the stream. */
  private async storedBySomeoneElse(dispatchId: string): Promise<boolean | undefined> {
    const now = Date.now();
    if (this.presence === undefined || now - this.presence.at > PRESENCE_REUSE_MS) {
      this.presence = {
        at: now,
        ids: taskMessagesPresent(this.jsm, this.names.streams.tasks, this.names.subjects.tasks).catch((err: unknown) => {
          this.logger.debug({ err }, "could not read the tasks stream's messages; asked again later");
          return undefined;
        }),
      };
    }
    const ids = await this.presence.ids;
    return ids === undefined ? undefined : ids.has(dispatchId);
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

function describeTask(task: TaskMessage): string {
  return `task "${task.state}/${task.task}" (run "${task.runId}", executor "${task.executor}", attempt ${task.attempt})`;
}
