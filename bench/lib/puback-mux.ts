/**
 * Durable JetStream publishing as cheaply as the raw NATS client allows: one
 * wildcard subscription on a private inbox receives every PubAck, and each publish
 * is a plain `nc.publish()` with a reply subject `<inbox>.<n>`, resolved when the
 * PubAck for `n` arrives (rejected on a JetStream error, a 503 no-responders status
 * or after `timeoutMs` without one). What `js.publish()` does per message and this
 * does not: a request object with its own timer and a `RequestError` built on every
 * completion, an empty header block on messages without headers, the options copy.
 * What it keeps: the message is stored (the PubAck says so) before the promise
 * resolves, `Nats-Msg-Id` deduplication when a msgId is given.
 *
 * Bench only (the raw baseline's dispatcher and workers).
 */
import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

const decoder = new TextDecoder();

export interface PubAckMux {
  /** Publish `data` to `subject` and resolve once JetStream stored it. */
  publish(subject: string, data: Uint8Array, msgId?: string): Promise<void>;
  /** Reject what is pending and unsubscribe. */
  close(): void;
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
  deadline: number;
}

/**
 * Open the mux on a connection.
 * @example
 * const mux = pubAckMux(nc);
 * await mux.publish("x.task.a", bytes, "dispatch-1");
 */
export function pubAckMux(nc: NatsConnection, timeoutMs = 30_000): PubAckMux {
  const inbox = createInbox();
  const pending = new Map<number, Pending>();
  let next = 0;
  const onAck = (err: Error | null, m: Msg): void => {
    if (err) return;
    const n = Number(m.subject.slice(inbox.length + 1));
    const p = pending.get(n);
    if (!p) return;
    pending.delete(n);
    if (m.data.length === 0) {
      p.reject(new Error(`no PubAck (status ${m.headers?.code ?? "none"}: is there a stream for the subject?)`));
      return;
    }
    // A PubAck is {"stream":..,"seq":..}; an error reply has an "error" member.
    const text = decoder.decode(m.data);
    if (text.includes('"error"')) p.reject(new Error(`JetStream refused the message: ${text}`));
    else p.resolve();
  };
  const sub: Subscription = nc.subscribe(`${inbox}.*`, { callback: onAck });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [n, p] of pending) {
      if (p.deadline > now) continue;
      pending.delete(n);
      p.reject(new Error(`no PubAck within ${timeoutMs} ms`));
    }
  }, 1_000);
  sweep.unref();
  return {
    publish(subject, data, msgId) {
      const n = next++;
      return new Promise<void>((resolve, reject) => {
        pending.set(n, { resolve, reject, deadline: Date.now() + timeoutMs });
        if (msgId === undefined) {
          nc.publish(subject, data, { reply: `${inbox}.${n}` });
        } else {
          const h = headers();
          h.set("Nats-Msg-Id", msgId);
          nc.publish(subject, data, { reply: `${inbox}.${n}`, headers: h });
        }
      });
    },
    close() {
      clearInterval(sweep);
      sub.unsubscribe();
      for (const p of pending.values()) p.reject(new Error("PubAck mux closed"));
      pending.clear();
    },
  };
}
