/**
 * The memory transport's task queues: one work queue per executor namespace, like
 * the `PF_TASKS` work-queue stream with one durable consumer per namespace that
 * every worker of the namespace shares. Each message goes to exactly one consumer;
 * consumers are served round-robin; redeliveries (nak, given back) go before new
 * messages, as JetStream does. New messages are delivered by priority (README "Traffic control": the
 * task message's `priority`, 1 first .. 5 last, absent = 3), first in first out within
 * one: one FIFO per level, so picking the next is O(levels). Dispatch is deduplicated by `dispatchId@epoch`
 * within a window, like `Nats-Msg-Id` within the stream's duplicate window (a new
 * leaseholder's re-dispatch of an attempt has a new epoch, so it is not dropped).
 *
 * Deliveries are handed out from a `setImmediate` pump, never inside `dispatch()`
 * or `ack()`, so a handler never runs re-entrantly within its caller, and a burst
 * of dispatches is delivered in one pass.
 */
import type { TaskMessage } from "../messages.js";
import type { QueueBackend, QueuedTask, TaskConsumer } from "./consumer.js";
import { Fifo } from "./fifo.js";
import type { Payload, Wire } from "./wire.js";

export interface WorkQueueOptions {
  ackWaitMs: number | undefined;
  wire: Wire;
  duplicateWindowMs: number;
  now: () => number;
  handlerFailed(err: unknown, message: TaskMessage): void;
}

/** Priority levels of task messages: 1 (first) .. 5 (last). */
const LEVELS = 5;
const DEFAULT_LEVEL = 3;

interface NamespaceQueue {
  readonly redeliver: Fifo<QueuedTask>;
  /** New messages by priority: `fresh[p - 1]` holds those of priority p. */
  readonly fresh: readonly Fifo<QueuedTask>[];
  consumers: readonly TaskConsumer[];
  /** Round-robin position in `consumers`. */
  next: number;
}

export class WorkQueue implements QueueBackend {
  readonly ackWaitMs: number | undefined;
  readonly wire: Wire;
  private readonly queues = new Map<string, NamespaceQueue>();
  /** `dispatchId@epoch` -> when it may be accepted again; insertion order = time order. */
  private readonly seen = new Map<string, number>();
  private readonly delayed = new Set<NodeJS.Timeout>();
  private scheduled = false;
  private closed = false;

  constructor(private readonly options: WorkQueueOptions) {
    this.ackWaitMs = options.ackWaitMs;
    this.wire = options.wire;
  }

  /** Queue a task payload; false when `dedupeKey` was seen within the window (dropped). */
  enqueue(namespace: string, dedupeKey: string, payload: Payload, priority = DEFAULT_LEVEL, valuesText?: string): boolean {
    const now = this.options.now();
    for (const [id, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(id);
    }
    if (this.seen.has(dedupeKey)) return false;
    this.seen.set(dedupeKey, now + this.options.duplicateWindowMs);
    this.enqueueRaw(namespace, payload, priority, valuesText);
    return true;
  }

  /** Queue a payload without dedupe (injected raw messages); the consumer that receives it decodes it. */
  enqueueRaw(namespace: string, payload: Payload, priority = DEFAULT_LEVEL, valuesText?: string): void {
    const level = Number.isInteger(priority) && priority >= 1 && priority <= LEVELS ? priority : DEFAULT_LEVEL;
    this.queue(namespace).fresh[level - 1]!.push({ namespace, payload, valuesText, message: undefined, deliveries: 0 });
    this.pumpSoon();
  }

  requeue(entry: QueuedTask, delayMs: number): void {
    if (this.closed) return;
    if (delayMs <= 0) {
      this.queue(entry.namespace).redeliver.push(entry);
      this.pumpSoon();
      return;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(timer);
      this.requeue(entry, 0);
    }, delayMs);
    timer.unref();
    this.delayed.add(timer);
  }

  attach(consumer: TaskConsumer): void {
    for (const ns of consumer.namespaces) {
      const q = this.queue(ns);
      q.consumers = [...q.consumers, consumer];
    }
    this.pumpSoon();
  }

  detach(consumer: TaskConsumer): void {
    for (const ns of consumer.namespaces) {
      const q = this.queues.get(ns);
      if (q) q.consumers = q.consumers.filter((c) => c !== consumer);
    }
  }

  handlerFailed(err: unknown, message: TaskMessage): void {
    this.options.handlerFailed(err, message);
  }

  pumpSoon(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => this.pump());
  }

  /** Messages waiting (ready now) and waiting out a nak delay. */
  counts(): { queued: number; delayed: number } {
    let queued = 0;
    for (const q of this.queues.values()) queued += q.fresh.reduce((n, f) => n + f.length, 0) + q.redeliver.length;
    return { queued, delayed: this.delayed.size };
  }

  close(): void {
    this.closed = true;
    for (const timer of this.delayed) clearTimeout(timer);
    this.delayed.clear();
    for (const q of this.queues.values()) {
      for (const f of q.fresh) f.clear();
      q.redeliver.clear();
    }
  }

  private pump(): void {
    this.scheduled = false;
    if (this.closed) return;
    for (const q of this.queues.values()) this.pumpNamespace(q);
  }

  private pumpNamespace(q: NamespaceQueue): void {
    const consumers = q.consumers;
    const n = consumers.length;
    let misses = 0;
    while (n > 0 && misses < n) {
      const source = q.redeliver.length > 0 ? q.redeliver : q.fresh.find((f) => f.length > 0);
      if (source === undefined) return;
      const consumer = consumers[q.next % n];
      q.next = (q.next + 1) % n;
      if (consumer === undefined || !consumer.hasRoom()) {
        misses++;
        continue;
      }
      misses = 0;
      const entry = source.shift();
      if (entry !== undefined) consumer.deliver(entry);
    }
  }

  private queue(namespace: string): NamespaceQueue {
    let q = this.queues.get(namespace);
    if (q === undefined) {
      q = { redeliver: new Fifo(), fresh: Array.from({ length: LEVELS }, () => new Fifo<QueuedTask>()), consumers: [], next: 0 };
      this.queues.set(namespace, q);
    }
    return q;
  }
}

