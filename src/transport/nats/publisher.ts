/**
 * JetStream publishing for the hot path (task messages, reports): the same contract
 * as the client's `js.publish()` (resolve with the PubAck once the server stored the
 * message; retry a timeout or "no responders" with the client's backoff; a JetStream
 * error rejects), at a fraction of its cost. One wildcard subscription on a private
 * inbox receives every PubAck, and each publish is a plain `publish()` with the reply
 * subject `<inbox>.<n>`. `js.publish()` instead makes a request object per message,
 * with its own timer, an empty header block when there are no headers, and a
 * `RequestError` (stack trace and all) built in `RequestOne.cancel()` after every
 * answered request: about a tenth of a worker's and a coordinator's CPU per task.
 *
 * Timeouts are checked by one sweep every `SWEEP_MS`, so a publish times out between
 * `timeoutMs` and `timeoutMs + SWEEP_MS`. After a reconnect the client renews the
 * subscription itself; publishes made while disconnected go out on reconnect, as with
 * `js.publish()`.
 */
import { backoff, createInbox, delay, headers as newHeaders, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** What the server answered: where the message is stored, and whether it was a duplicate (Nats-Msg-Id). */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

export interface PublishOptions {
  /** `Nats-Msg-Id`: the server drops a repeat within the stream's duplicate window. */
  msgID?: string;
  /** Headers to send (the msgID is added to them). */
  headers?: MsgHdrs;
  /** Tries in all when the server does not answer or nobody listens. Default 1. */
  retries?: number;
}

/** The server did not answer within the timeout, or nobody listens on the subject (no stream). */
export class PublishNotAnsweredError extends Error {
  constructor(
    message: string,
    readonly noResponders: boolean,
  ) {
    super(message);
    this.name = "PublishNotAnsweredError";
  }
}

/** The server answered with a JetStream error (e.g. a full stream). */
export class PublishRefusedError extends Error {
  constructor(
    readonly code: number,
    readonly errCode: number | undefined,
    description: string,
  ) {
    super(description);
    this.name = "PublishRefusedError";
  }
}

export interface JsPublisher {
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PubAck>;
  /** Reject what is still pending and unsubscribe. */
  close(): void;
}

const SWEEP_MS = 250;
const decoder = new TextDecoder();

interface Pending {
  resolve(ack: PubAck): void;
  reject(err: Error): void;
  deadline: number;
}

/**
 * Open a publisher on a connection (one subscription until `close()`).
 * @example
 * const pub = jsPublisher(nc, { timeoutMs: 5_000 });
 * const ack = await pub.publish("pf.task.etl.load", bytes, { msgID: "d1@1", retries: 10 });
 */
export function jsPublisher(nc: NatsConnection, options: { inboxPrefix?: string | undefined; timeoutMs?: number } = {}): JsPublisher {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const inbox = createInbox(options.inboxPrefix);
  const pending = new Map<number, Pending>();
  let next = 0;
  let closed = false;

  const sub: Subscription = nc.subscribe(`${inbox}.*`, {
    callback: (err, m) => {
      if (err) return;
      const n = Number(m.subject.slice(inbox.length + 1));
      const p = pending.get(n);
      if (p === undefined) return;
      pending.delete(n);
      if (m.data.length === 0) {
        const code = m.headers?.code ?? 0;
        p.reject(new PublishNotAnsweredError(code === 503 ? "no responders: no stream listens on the subject" : `empty reply (status ${code})`, code === 503));
        return;
      }
      let ack: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { code?: unknown; err_code?: unknown; description?: unknown } };
      try {
        ack = JSON.parse(decoder.decode(m.data)) as typeof ack;
      } catch {
        p.reject(new Error("the server's PubAck is not JSON"));
        return;
      }
      if (ack.error !== undefined) {
        const e = ack.error;
        p.reject(new PublishRefusedError(typeof e.code === "number" ? e.code : 0, typeof e.err_code === "number" ? e.err_code : undefined, typeof e.description === "string" ? e.description : "JetStream error"));
      } else if (typeof ack.stream !== "string" || ack.stream === "" || typeof ack.seq !== "number") {
        p.reject(new Error("invalid PubAck"));
      } else {
        p.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true });
      }
    },
  });
  const sweep = setInterval(() => {
    if (pending.size === 0) return;
    const now = Date.now();
    // Insertion order is deadline order (one timeout for all): stop at the first that is not due.
    for (const [n, p] of pending) {
      if (p.deadline > now) break;
      pending.delete(n);
      p.reject(new PublishNotAnsweredError(`no PubAck within ${timeoutMs} ms`, false));
    }
  }, SWEEP_MS);
  sweep.unref();

  const once = (subject: string, data: Uint8Array, h: MsgHdrs | undefined): Promise<PubAck> => {
    if (closed) return Promise.reject(new Error("publisher closed"));
    const n = next++;
    return new Promise<PubAck>((resolve, reject) => {
      pending.set(n, { resolve, reject, deadline: Date.now() + timeoutMs });
      try {
        nc.publish(subject, data, h === undefined ? { reply: `${inbox}.${n}` } : { reply: `${inbox}.${n}`, headers: h });
      } catch (err) {
        pending.delete(n);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  };

  return {
    async publish(subject, data, opts = {}) {
      let h = opts.headers;
      if (opts.msgID !== undefined) {
        h ??= newHeaders();
        h.set("Nats-Msg-Id", opts.msgID);
      }
      const tries = Math.max(1, opts.retries ?? 1);
      const policy = backoff();
      for (let i = 0; ; i++) {
        try {
          return await once(subject, data, h);
        } catch (err) {
          if (!(err instanceof PublishNotAnsweredError) || i + 1 >= tries || closed) throw err;
          await delay(policy.backoff(i));
        }
      }
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(sweep);
      if (!nc.isClosed()) sub.unsubscribe();
      for (const p of pending.values()) p.reject(new Error("publisher closed"));
      pending.clear();
    },
  };
}
