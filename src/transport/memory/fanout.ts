/**
 * Broadcast for the memory transport's events and control messages: every
 * subscriber gets every message published after it subscribed, in publish order,
 * asynchronously (from a `setImmediate` flush, never inside `publish()`), like a
 * core NATS subscription. A raw message that failed its schema travels as a
 * `Malformed` marker: each subscriber counts it on its own connection and its
 * handler never sees it.
 */
import type { Subscription } from "../port.js";
import type { ConsumerOwner } from "./consumer.js";

/** A message that failed its schema, as received. */
export class Malformed {
  constructor(readonly raw: unknown) {}
}

class Subscriber<T> implements Subscription {
  buffer: (T | Malformed)[] = [];
  active = true;

  constructor(
    private readonly fanout: Fanout<T>,
    readonly handler: (item: T) => void,
    readonly owner: ConsumerOwner,
  ) {}

  stop(): Promise<void> {
    this.active = false;
    this.buffer = [];
    this.fanout.remove(this);
    return Promise.resolve();
  }
}

export class Fanout<T> {
  private readonly subscribers = new Set<Subscriber<T>>();
  private scheduled = false;
  private closed = false;

  constructor(private readonly handlerFailed: (err: unknown) => void) {}

  subscribe(handler: (item: T) => void, owner: ConsumerOwner): Subscription {
    const subscriber = new Subscriber(this, handler, owner);
    this.subscribers.add(subscriber);
    return subscriber;
  }

  publish(item: T | Malformed): void {
    if (this.closed || this.subscribers.size === 0) return;
    for (const s of this.subscribers) s.buffer.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  remove(subscriber: Subscriber<T>): void {
    this.subscribers.delete(subscriber);
  }

  close(): void {
    this.closed = true;
    for (const s of this.subscribers) s.buffer = [];
    this.subscribers.clear();
  }

  private flush(): void {
    this.scheduled = false;
    for (const s of this.subscribers) {
      if (s.buffer.length === 0) continue;
      const items = s.buffer;
      s.buffer = [];
      for (const item of items) {
        if (!s.active) break;
        if (item instanceof Malformed) {
          s.owner.countMalformed();
          continue;
        }
        try {
          s.handler(item);
        } catch (err) {
          this.handlerFailed(err);
        }
      }
    }
  }
}
