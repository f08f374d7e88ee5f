/**
 * One connection to a memory hub: the `Transport` the coordinator or a worker holds.
 * Like a NATS connection, it owns its subscriptions (closed with it) and counts the
 * malformed messages it received; the queues, histories and broadcasts it talks to
 * live in the hub and are shared by every connection of that hub.
 */
import { TransportClosedError, UsageError, WireMessageInvalidError } from "../../errors/base.js";
import { checkKeyPart, checkExecutorKey } from "../../registry/keys.js";
import { controlMessageSchema, runEventSchema, taskMessageSchema, type ControlMessage, type RunEvent, type TaskMessage } from "../messages.js";
import type { ConsumeOptions, Subscription, TaskDelivery, Transport, TransportStats } from "../port.js";
import { schemaIssues } from "../json.js";
import { encodeOutgoing } from "./codec.js";
import { TaskConsumer, type ConsumerOwner } from "./consumer.js";
import { Malformed, type Fanout } from "./fanout.js";
import type { WorkQueue } from "./work-queue.js";

/** The hub's shared state, as a connection sees it. */
export interface HubCore {
  readonly queue: WorkQueue;
  readonly events: Fanout<RunEvent>;
  readonly control: Fanout<ControlMessage>;
  appendEvent(event: RunEvent | Malformed): void;
  history(runId: string): readonly (RunEvent | Malformed)[];
  countMalformed(): void;
  disconnected(connection: MemoryConnection): void;
}

/** Runs `fn`, turning a throw into a rejected promise (these methods never throw synchronously). */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function describeEvent(event: unknown): string {
  const e = (typeof event === "object" && event !== null ? event : {}) as { type?: unknown; runId?: unknown };
  return `event "${String(e.type)}" of run "${String(e.runId)}"`;
}

export class MemoryConnection implements Transport, ConsumerOwner {
  readonly kind = "memory";
  private malformed = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly subscriptions = new Set<Subscription>();

  constructor(
    private readonly hub: HubCore,
    private readonly onClose?: () => Promise<void>,
  ) {}

  countMalformed(): void {
    this.malformed++;
    this.hub.countMalformed();
  }

  publishEvent(event: RunEvent): Promise<void> {
    return settle(() => {
      this.assertOpen("publish an event");
      this.hub.appendEvent(encodeOutgoing(runEventSchema, event, describeEvent(event)));
    });
  }

  subscribeEvents(handler: (event: RunEvent) => void): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("subscribe to events");
      return this.track(this.hub.events.subscribe(handler, this));
    });
  }

  readRunEvents(runId: string): Promise<RunEvent[]> {
    return settle(() => {
      this.assertOpen("read run events");
      const out: RunEvent[] = [];
      for (const item of this.hub.history(runId)) {
        if (item instanceof Malformed) this.countMalformed();
        else out.push(item);
      }
      return out;
    });
  }

  dispatch(task: TaskMessage): Promise<void> {
    return settle(() => {
      this.assertOpen("dispatch a task");
      const what = `task message "${String((task as { dispatchId?: unknown }).dispatchId)}"`;
      const message = encodeOutgoing(taskMessageSchema, task, what);
      const keyProblem = checkExecutorKey(message.executor);
      if (keyProblem !== undefined) throw new WireMessageInvalidError(what, schemaIssues([{ path: ["executor"], message: `executor "${message.executor}" ${keyProblem}` }]));
      this.hub.queue.enqueue(message.executor.slice(0, message.executor.indexOf("/")), message);
    });
  }

  consumeTasks(options: ConsumeOptions, handler: (delivery: TaskDelivery) => Promise<void>): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("consume tasks");
      const namespaces = [...new Set(options.namespaces)];
      if (namespaces.length === 0) throw new UsageError("consumeTasks needs at least one executor namespace; pass namespaces: [\"etl\", ...]");
      for (const ns of namespaces) {
        const problem = checkKeyPart(ns);
        if (problem !== undefined) throw new UsageError(`consumeTasks namespace "${ns}" ${problem}`);
      }
      if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
        throw new UsageError(`consumeTasks concurrency must be a whole number of at least 1, got ${String(options.concurrency)}`);
      }
      const consumer = new TaskConsumer(this.hub.queue, namespaces, options.concurrency, handler, this);
      this.hub.queue.attach(consumer);
      return this.track(consumer);
    });
  }

  publishControl(message: ControlMessage): Promise<void> {
    return settle(() => {
      this.assertOpen("publish a control message");
      this.hub.control.publish(encodeOutgoing(controlMessageSchema, message, `control message "${String((message as { type?: unknown }).type)}"`));
    });
  }

  subscribeControl(handler: (message: ControlMessage) => void): Promise<Subscription> {
    return settle(() => {
      this.assertOpen("subscribe to control messages");
      return this.track(this.hub.control.subscribe(handler, this));
    });
  }

  stats(): TransportStats {
    return { malformed: this.malformed };
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
