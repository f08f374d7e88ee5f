/**
 * Core-NATS-like broadcast for the memory transport: control messages (one topic)
 * and live signals (one topic per run). Every subscriber of a topic gets every
 * message published on it after it subscribed, in publish order, asynchronously
 * through the hub's drain (never inside `publish()`). Nothing is stored.
 *
 * A subscriber decodes the payload itself (strict mode: a parse per receiver, as
 * on NATS) and counts a malformed one on its own connection.
 */
import type { Subscription } from "../port.js";
import type { Drain } from "./drain.js";
import type { Payload } from "./wire.js";

/** What a subscriber does with a payload: decode, count, call its handler. */
export type Receiver = (payload: Payload) => void;

class Subscriber implements Subscription {
  active = true;
  constructor(
    private readonly broadcast: Broadcast,
    readonly topic: string,
    readonly receive: Receiver,
  ) {}

  stop(): Promise<void> {
    this.active = false;
    this.broadcast.remove(this);
    return Promise.resolve();
  }
}

export class Broadcast {
  private readonly topics = new Map<string, Set<Subscriber>>();

  constructor(private readonly drain: Drain) {}

  subscribe(topic: string, receive: Receiver): Subscription {
    const subscriber = new Subscriber(this, topic, receive);
    let set = this.topics.get(topic);
    if (set === undefined) this.topics.set(topic, (set = new Set()));
    set.add(subscriber);
    return subscriber;
  }

  publish(topic: string, payload: Payload): void {
    const set = this.topics.get(topic);
    if (set === undefined || set.size === 0) return;
    const receivers = [...set];
    this.drain.schedule(() => {
      for (const s of receivers) if (s.active) s.receive(payload);
    });
  }

  remove(subscriber: Subscriber): void {
    const set = this.topics.get(subscriber.topic);
    set?.delete(subscriber);
    if (set?.size === 0) this.topics.delete(subscriber.topic);
  }

  clear(): void {
    this.topics.clear();
  }
}
