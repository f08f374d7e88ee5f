/**
 * One `consumeTasks` subscription of the memory transport and the deliveries it
 * hands out. Mirrors a worker's pull subscription on JetStream's durable consumer:
 * at most `concurrency` unsettled deliveries at once, explicit ack/nak/term, and a
 * subscription that stops gives its unsettled deliveries back for others to take.
 *
 * Until it is settled, a delivery is kept alive (`working()`) every `keepAliveMs`
 * (default ackWaitMs / 3), as the NATS adapter does, so only a consumer that stops
 * gives a running attempt back. Settling a delivery more than once, or after it was
 * given back (stop, ack wait expired), is ignored: the message already belongs to
 * someone else.
 */
import type { Subscription, TaskDelivery } from "../port.js";
import { taskMessageSchema, type TaskMessage } from "../messages.js";
import { isolateTask, type Payload, type Wire } from "./wire.js";

/** A message in a namespace queue; `message` is undefined until its payload is decoded (on first delivery). */
export interface QueuedTask {
  readonly namespace: string;
  readonly payload: Payload;
  /** Fast mode: the JSON text of `[input, parents]` made when the task was sent (wire.ts `isolateTask`). */
  readonly valuesText?: string | undefined;
  message: TaskMessage | undefined;
  /** Deliveries so far. */
  deliveries: number;
}

/** What a consumer needs from the queue that feeds it. */
export interface QueueBackend {
  readonly ackWaitMs: number | undefined;
  readonly wire: Wire;
  requeue(entry: QueuedTask, delayMs: number): void;
  pumpSoon(): void;
  detach(consumer: TaskConsumer): void;
  handlerFailed(err: unknown, message: TaskMessage): void;
}

/** The connection a consumer belongs to, where it counts malformed messages. */
export interface ConsumerOwner {
  countMalformed(): void;
}

export type TaskHandler = (delivery: TaskDelivery) => Promise<void>;

const SETTLED: Promise<void> = Promise.resolve();

class MemoryDelivery implements TaskDelivery {
  readonly message: TaskMessage;
  readonly deliveryCount: number;
  private open = true;
  private timer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(
    private readonly consumer: TaskConsumer,
    private readonly entry: QueuedTask,
    message: TaskMessage,
    ackWaitMs: number | undefined,
    keepAliveMs: number | undefined,
  ) {
    this.message = message;
    this.deliveryCount = entry.deliveries;
    if (ackWaitMs !== undefined) {
      this.timer = setTimeout(() => this.giveBack(), ackWaitMs);
      this.timer.unref();
      this.keepAlive = setInterval(() => this.working(), keepAliveMs ?? Math.max(1, Math.floor(ackWaitMs / 3)));
      this.keepAlive.unref();
    }
  }

  working(): void {
    if (this.open) this.timer?.refresh();
  }

  ack(): Promise<void> {
    if (this.close()) this.consumer.backend.pumpSoon();
    return SETTLED;
  }

  nak(delayMs = 0): void {
    if (this.close()) this.consumer.backend.requeue(this.entry, Math.max(0, delayMs));
  }

  term(): void {
    if (this.close()) this.consumer.backend.pumpSoon();
  }

  /** Return the message to the queue for redelivery (stop, ack wait expired). */
  giveBack(): void {
    if (this.close()) this.consumer.backend.requeue(this.entry, 0);
  }

  private close(): boolean {
    if (!this.open) return false;
    this.open = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.keepAlive !== undefined) clearInterval(this.keepAlive);
    this.consumer.settled(this);
    return true;
  }
}

export class TaskConsumer implements Subscription {
  private unsettled = 0;
  private running = 0;
  private stopped = false;
  private readonly open = new Set<MemoryDelivery>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly backend: QueueBackend,
    readonly namespaces: readonly string[],
    private readonly concurrency: number,
    private readonly handler: TaskHandler,
    private readonly owner: ConsumerOwner,
    private readonly keepAliveMs: number | undefined,
  ) {}

  hasRoom(): boolean {
    return !this.stopped && this.unsettled < this.concurrency;
  }

  /** Hand `entry` to the handler; a malformed entry is counted and dropped instead. */
  deliver(entry: QueuedTask): void {
    let message = entry.message;
    if (message === undefined) {
      message = this.backend.wire.decode(taskMessageSchema, entry.payload);
      if (message === undefined) {
        this.owner.countMalformed();
        return;
      }
      entry.message = message;
    }
    entry.deliveries++;
    // Every delivery gets its own input and parents' outputs, as a fleet worker parsing the message does.
    const own = isolateTask(message, this.backend.wire.mode === "strict" ? JSON.stringify([message.input, message.parents]) : entry.valuesText);
    const delivery = new MemoryDelivery(this, entry, own, this.backend.ackWaitMs, this.keepAliveMs);
    this.unsettled++;
    this.open.add(delivery);
    this.running++;
    let result: Promise<void>;
    try {
      result = this.handler(delivery);
    } catch (err) {
      result = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    result.then(
      () => this.handlerDone(),
      (err: unknown) => {
        this.backend.handlerFailed(err, message);
        delivery.nak();
        this.handlerDone();
      },
    );
  }

  settled(delivery: MemoryDelivery): void {
    this.unsettled--;
    this.open.delete(delivery);
  }

  /** Stop taking deliveries, wait for running handlers, then give back what they left unsettled. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.backend.detach(this);
    }
    if (this.running > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    for (const delivery of [...this.open]) delivery.giveBack();
  }

  private handlerDone(): void {
    this.running--;
    if (this.running === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}
