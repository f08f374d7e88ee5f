/**
 * One connection to a memory hub: the `Transport` the coordinator or a worker holds.
 * Like a NATS connection, it owns its subscriptions (closed with it) and counts the
 * malformed and refused messages it received; the queues, histories and broadcasts
 * it talks to live in the hub and are shared by every connection of that hub.
 */
import type { ZodType } from "zod";
import { TransportClosedError, UsageError, WireMessageInvalidError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { checkExecutorKey, checkKeyPart } from "../../registry/keys.js";
import { toSchemaIssues } from "../../support/schema-issues.js";
import {
  controlMessageSchema,
  decisionSchema,
  liveSignalSchema,
  reportSchema,
  reportSubjectSchema,
  signalMessageSchema,
  childEndedMessageSchema,
  taskMessageSchema,
  type ControlMessage,
  type Decision,
  type HistoryMessage,
  type LiveSignal,
  type Report,
  type ReportSubjectMessage,
  type SignalMessage,
  type ChildEndedMessage,
  type StoredMessage,
  type TaskMessage,
} from "../messages.js";
import type { ConsumeOptions, FollowOptions, Subscription, TaskDelivery, Transport, TransportCapabilities, TransportStats } from "../port.js";
import type { Broadcast } from "./broadcast.js";
import { TaskConsumer, type ConsumerOwner } from "./consumer.js";
import type { Entry, HistoryStore } from "./history-store.js";
import type { WorkQueue } from "./work-queue.js";
import type { Payload, Wire } from "./wire.js";

/** The hub's shared state, as a connection sees it. */
export interface HubCore {
  readonly wire: Wire;
  readonly capabilities: TransportCapabilities;
  readonly queue: WorkQueue;
  readonly histories: HistoryStore;
  /** Topic "" for control messages, a run id for that run's live signals. */
  readonly control: Broadcast;
  readonly live: Broadcast;
  readonly logger: Logger | undefined;
  countMalformed(): void;
  countRefused(): void;
  disconnected(connection: MemoryConnection): void;
}

const CONTROL_TOPIC = "";
const REPORTS = new Set(["report"] as const);
const HISTORY = new Set(["decision", "report"] as const);
const DECISIONS = new Set(["decision"] as const);

/** Runs `fn`, turning a throw into a rejected promise (these methods never throw synchronously). */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

export class MemoryConnection implements Transport, ConsumerOwner {
  readonly kind = "memory";
  readonly capabilities: TransportCapabilities;
  private malformed = 0;
  private refused = 0;
  private reportsDelivered = 0;
  /** Executor keys already checked (a run dispatches the same few keys over and over). */
  private readonly validExecutors = new Set<string>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly subscriptions = new Set<Subscription>();

  constructor(
    private readonly hub: HubCore,
    private readonly onClose?: () => Promise<void>,
  ) {
    this.capabilities = hub.capabilities;
  }

  countMalformed(): void {
    this.malformed++;
    this.hub.countMalformed();
  }

  appendDecision(decision: Decision, expectedLastSeq: number): Promise<number> {
    return settle(() => {
      this.assertOpen("append a decision");
      const payload = this.hub.wire.encode(decisionSchema, decision, `decision batch of run "${String(decision.runId)}"`);
      return this.hub.histories.appendDecision(decision.runId, expectedLastSeq, payload);
    });
  }

  publishReport(report: Report): Promise<void> {
    return settle(() => {
      this.assertOpen("publish a report");
      const what = `report "${String(report.type)}" of task "${String(report.state)}/${String(report.task)}" (run "${String(report.runId)}", attempt ${String(report.attempt)})`;
      this.hub.wire.check(report, [report.type === "attempt.succeeded" ? report.output : report.error], what);
      const payload = this.hub.wire.encode(reportSchema, report, what);
      this.hub.histories.append(report.runId, "report", payload);
    });
  }

  appendSignal(signal: SignalMessage): Promise<{ duplicate: boolean }> {
    return settle(() => {
      this.assertOpen("send a signal");
      const payload = this.hub.wire.encode(signalMessageSchema, signal, `signal "${String(signal.name)}" of run "${String(signal.runId)}"`);
      // No duplicate window here: the fold drops a repeated id.
      this.hub.histories.append(signal.runId, "report", payload);
      return { duplicate: false };
    });
  }

  appendChildEnd(message: ChildEndedMessage): Promise<{ duplicate: boolean }> {
    return settle(() => {
      this.assertOpen("store a child run's end");
      const payload = this.hub.wire.encode(childEndedMessageSchema, message, `end of child run "${String(message.child)}" of run "${String(message.runId)}"`);
      // No duplicate window here: the fold takes a child's first end.
      this.hub.histories.append(message.runId, "report", payload);
      return { duplicate: false };
    });
  }

  publishLive(signal: LiveSignal): void {
    if (this.closed) return;
    try {
      this.hub.live.publish(signal.runId, this.hub.wire.encode(liveSignalSchema, signal, `live signal "${String(signal.type)}"`));
    } catch (err) {
      this.hub.logger?.warn({ err, runId: signal.runId }, "memory transport: live signal not sent; viewers miss it (runs are unaffected)");
    }
  }

  readHistory(runId: string): Promise<{ messages: StoredMessage[]; lastDecisionSeq: number }> {
    return settle(() => {
      this.assertOpen("read a run's history");
      const { entries, lastDecisionSeq } = this.hub.histories.read(runId);
      const messages: StoredMessage[] = [];
      for (const entry of entries) {
        const message = this.decodeEntry(runId, entry);
        if (message !== undefined) messages.push({ seq: entry.seq, message });
      }
      return { messages, lastDecisionSeq };
    });
  }

  subscribeReports(runId: string, afterSeq: number, handler: (seq: number, report: ReportSubjectMessage) => void): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("subscribe to reports");
      return this.track(
        this.hub.histories.follow(runId, afterSeq, REPORTS, (entry) => {
          const message = this.decodeEntry(runId, entry);
          if (message === undefined || message.kind === "decision") return;
          this.reportsDelivered++;
          this.call("report", () => handler(entry.seq, message));
        }),
      );
    });
  }

  followHistory(runId: string, afterSeq: number, handler: (stored: StoredMessage) => void, options: FollowOptions = {}): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("follow a run's history");
      return this.track(
        this.hub.histories.follow(runId, afterSeq, options.decisionsOnly === true ? DECISIONS : HISTORY, (entry) => {
          const message = this.decodeEntry(runId, entry);
          if (message !== undefined) this.call("history", () => handler({ seq: entry.seq, message }));
        }),
      );
    });
  }

  subscribeLive(runId: string, handler: (signal: LiveSignal) => void): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("subscribe to live signals");
      return this.track(this.hub.live.subscribe(runId, (payload) => this.receive(liveSignalSchema, payload, "live signal", handler)));
    });
  }

  dispatch(task: TaskMessage): Promise<void> {
    return settle(() => {
      this.assertOpen("dispatch a task");
      const what = `task "${String(task.state)}/${String(task.task)}" (run "${String(task.runId)}", executor "${String(task.executor)}", attempt ${String(task.attempt)})`;
      const valuesText = this.hub.wire.check(task, [task.input, task.parents], what);
      const payload = this.hub.wire.encode(taskMessageSchema, task, what);
      const executor = String(task.executor);
      if (!this.validExecutors.has(executor)) {
        const keyProblem = checkExecutorKey(executor);
        if (keyProblem !== undefined) throw new WireMessageInvalidError(what, toSchemaIssues([{ path: ["executor"], message: `executor "${executor}" ${keyProblem}` }]));
        this.validExecutors.add(executor);
      }
      const priority = typeof task.priority === "number" ? task.priority : undefined;
      this.hub.queue.enqueue(executor.slice(0, executor.indexOf("/")), `${task.dispatchId}@${task.epoch}`, payload, priority, valuesText);
    });
  }

  consumeTasks(options: ConsumeOptions, handler: (delivery: TaskDelivery) => Promise<void>): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("consume tasks");
      const namespaces = [...new Set(options.namespaces)];
      if (namespaces.length === 0) throw new UsageError('consumeTasks needs at least one executor namespace; pass namespaces: ["etl", ...]');
      for (const ns of namespaces) {
        const problem = checkKeyPart(ns);
        if (problem !== undefined) throw new UsageError(`consumeTasks namespace "${ns}" ${problem}`);
      }
      if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
        throw new UsageError(`consumeTasks concurrency must be a whole number of at least 1, got ${String(options.concurrency)}`);
      }
      if (options.keepAliveMs !== undefined && !(options.keepAliveMs > 0)) {
        throw new UsageError(`consumeTasks keepAliveMs must be above 0, got ${String(options.keepAliveMs)}; leave it out for ackWaitMs / 3`);
      }
      const consumer = new TaskConsumer(this.hub.queue, namespaces, options.concurrency, handler, this, options.keepAliveMs);
      this.hub.queue.attach(consumer);
      return this.track(consumer);
    });
  }

  publishControl(message: ControlMessage): Promise<void> {
    return settle(() => {
      this.assertOpen("publish a control message");
      this.hub.control.publish(CONTROL_TOPIC, this.hub.wire.encode(controlMessageSchema, message, `control message "${String((message as { type?: unknown }).type)}"`));
    });
  }

  subscribeControl(handler: (message: ControlMessage) => void): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("subscribe to control messages");
      return this.track(this.hub.control.subscribe(CONTROL_TOPIC, (payload) => this.receive(controlMessageSchema, payload, "control message", handler)));
    });
  }

  deleteHistory(runId: string): Promise<void> {
    return settle(() => {
      this.assertOpen("delete a run's history");
      this.hub.histories.delete(runId);
    });
  }

  stats(): TransportStats {
    return { malformed: this.malformed, refused: this.refused, reportsDelivered: this.reportsDelivered };
  }

  /** Stops every subscription of this connection (task consumers wait for their running handlers). Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const subs = [...this.subscriptions];
    this.subscriptions.clear();
    await Promise.all(subs.map((s) => s.stop()));
    this.hub.disconnected(this);
    if (this.onClose) await this.onClose();
  }

  /** Decode a stored entry of `runId`: undefined (and counted) when malformed or stored under another run. */
  private decodeEntry(runId: string, entry: Entry): HistoryMessage | undefined {
    const message: HistoryMessage | undefined = entry.kind === "decision" ? this.hub.wire.decode(decisionSchema, entry.payload) : this.hub.wire.decode(reportSubjectSchema, entry.payload);
    if (message === undefined) {
      this.countMalformed();
      this.hub.logger?.warn({ runId, seq: entry.seq }, `memory transport: malformed ${entry.kind} skipped`);
      return undefined;
    }
    if (message.runId !== runId) {
      this.refused++;
      this.hub.countRefused();
      this.hub.logger?.warn({ runId, seq: entry.seq, named: message.runId }, `memory transport: ${entry.kind} stored under another run refused`);
      return undefined;
    }
    return message;
  }

  private receive<T>(schema: ZodType<T>, payload: Payload, what: string, handler: (value: T) => void): void {
    const value = this.hub.wire.decode<T>(schema, payload);
    if (value === undefined) {
      this.countMalformed();
      return;
    }
    this.call(what, () => handler(value));
  }

  private call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.hub.logger?.error({ err }, `memory transport: a ${what} handler threw; handlers should catch their own errors`);
    }
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new TransportClosedError("memory", operation);
  }

  private track(sub: Subscription): Subscription {
    this.subscriptions.add(sub);
    return {
      stop: () => {
        this.subscriptions.delete(sub);
        return sub.stop();
      },
    };
  }
}
