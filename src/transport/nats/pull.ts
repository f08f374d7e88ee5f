/**
 * Pulls from a durable pull consumer for the worker's priority order (task-consumer.ts): waiting
 * pulls (the server holds the request up to `expires` and delivers as messages arrive) and
 * no-wait pulls (answered at once with what the consumer has now). The client's
 * `consumer.fetch()` has no `no_wait` and waits at least 1 s for a batch it cannot fill, and
 * closing one early drops what the server still sends it; so this module speaks the pull
 * request itself (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`, the subject the worker's
 * permissions already allow) and wraps each delivery in `PulledMessage`, which settles it the
 * way the client's JsMsg does (a reply to the `$JS.ACK...` subject).
 *
 * One `Puller` per consumer holds one wildcard inbox subscription; each pull gets its own
 * reply subject below it, so a late status of an older pull cannot end the current one. A
 * waiting pull can be ended early on this side (`cancel()`), but nats-server 2.9 cannot take
 * back a pull request: what it still delivers for it, and anything that arrives while no pull
 * is open, goes to `onStray` (the worker runs it if a slot is free, else gives it back) instead
 * of being lost for ack_wait.
 */
import { createInbox, nanos, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

const encoder = new TextEncoder();
const ACK = encoder.encode("+ACK");
const NAK = encoder.encode("-NAK");
const WPI = encoder.encode("+WPI");
const TERM = encoder.encode("+TERM");

/** What the worker needs of a delivered task message: its body, where it came from, and how to settle it. */
export interface PulledMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  /** Stream sequence. */
  readonly seq: number;
  /** The reply subject acks go to (`$JS.ACK.<stream>.<consumer>...`). */
  readonly reply: string;
  readonly info: { readonly deliveryCount: number };
  ack(): void;
  nak(delayMs?: number): void;
  working(): void;
  term(): void;
}

/** A delivery of a pull: the ack subject carries its delivery count and stream sequence. */
class Pulled implements PulledMessage {
  readonly seq: number;
  readonly info: { readonly deliveryCount: number };
  private settled = false;
  constructor(private readonly msg: Msg) {
    // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending> (2.9; newer servers add domain and hash after ACK).
    const tokens = msg.reply?.split(".") ?? [];
    if (tokens.length === 9) tokens.splice(2, 0, "_", "");
    this.info = { deliveryCount: Number(tokens[6] ?? 1) };
    this.seq = Number(tokens[7] ?? 0);
  }
  get subject(): string {
    return this.msg.subject;
  }
  get data(): Uint8Array {
    return this.msg.data;
  }
  get headers(): MsgHdrs | undefined {
    return this.msg.headers;
  }
  get reply(): string {
    return this.msg.reply ?? "";
  }
  private settle(payload: Uint8Array): void {
    if (this.settled) return;
    this.settled = payload !== WPI;
    this.msg.respond(payload);
  }
  ack(): void {
    this.settle(ACK);
  }
  nak(delayMs?: number): void {
    this.settle(delayMs ? encoder.encode(`-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}`) : NAK);
  }
  working(): void {
    this.settle(WPI);
  }
  term(): void {
    this.settle(TERM);
  }
}

/** A message is a delivery when it has an ack subject; status messages (404 no messages, 408 expired, 409) have none. */
function isDelivery(msg: Msg): boolean {
  return typeof msg.reply === "string" && msg.reply.startsWith("$JS.ACK.");
}

/** 404 (no messages) and 408 (request expired) end a pull normally; any other status (409: consumer deleted, too many waiting pulls...) is an error. */
function statusError(msg: Msg, durable: string): Error | undefined {
  const code = msg.headers?.code ?? 0;
  if (code === 404 || code === 408 || code === 0) return undefined;
  return new Error(`pull of consumer "${durable}" ended with status ${code} ${msg.headers?.description ?? ""}`.trim());
}

interface OpenPull {
  readonly token: string;
  readonly want: number;
  got: number;
  readonly onMessage: (m: PulledMessage) => void;
  done(err?: Error): void;
}

/**
 * Pulls of one consumer, one at a time.
 *
 * @example
 * const puller = createPuller(nc, "PF_TASKS", "pf_ns_etl_p1", "_INBOX_pf_worker", (m) => m.nak());
 * const n = await puller.pull(4, 0, run);      // no-wait: 0 when priority 1 has nothing waiting
 * const k = await puller.pull(4, 5_000, run);  // waits up to 5 s for up to 4 messages
 * puller.close();
 */
export interface Puller {
  /**
   * Ask for up to `batch` messages, waiting up to `expiresMs` on the server for them (0: no-wait).
   * Each delivery goes to `onMessage` as it arrives; resolves with how many did when the pull ends
   * (batch filled, expired, nothing more now, or `cancel()`). Rejects on an error status or no answer.
   */
  pull(batch: number, expiresMs: number, onMessage: (m: PulledMessage) => void): Promise<number>;
  /** End the open pull now on this side; what the server still sends for it goes to `onStray`. */
  cancel(): void;
  close(): void;
}

/** How long a pull may go unanswered past its expiry before it is given up (the server answers at once when it is up). */
const PULL_TIMEOUT_MS = 10_000;

export function createPuller(connection: NatsConnection, stream: string, durable: string, inboxPrefix: string | undefined, onStray: (m: PulledMessage) => void): Puller {
  const base = createInbox(inboxPrefix);
  const requestSubject = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`;
  let open: OpenPull | undefined;
  let serial = 0;
  const sub: Subscription = connection.subscribe(`${base}.*`, {
    callback: (err, msg) => {
      if (err) {
        open?.done(err);
        return;
      }
      if (!isDelivery(msg)) {
        // A status (sent to the pull's reply subject) ends the pull it answers; one of an older pull is ignored.
        if (open !== undefined && msg.subject === `${base}.${open.token}`) open.done(statusError(msg, durable));
        return;
      }
      // A delivery carries the subject the task was stored on: it belongs to the open pull, if any (pulls of one consumer never overlap).
      const current = open;
      const pulled = new Pulled(msg);
      if (current === undefined || current.got >= current.want) {
        onStray(pulled);
        return;
      }
      current.got++;
      current.onMessage(pulled);
      if (current.got >= current.want) current.done();
    },
  });
  return {
    pull(batch, expiresMs, onMessage): Promise<number> {
      if (open !== undefined) return Promise.reject(new Error(`a pull of consumer "${durable}" is still open; pull one batch at a time`));
      const token = String(++serial);
      return new Promise<number>((resolve, reject) => {
        const pull: OpenPull = {
          token,
          want: batch,
          got: 0,
          onMessage,
          done: (err?: Error) => {
            if (open !== pull) return;
            open = undefined;
            clearTimeout(timer);
            if (err !== undefined && pull.got === 0) reject(err);
            else resolve(pull.got);
          },
        };
        const timer = setTimeout(() => pull.done(new Error(`pull of consumer "${durable}" got no answer within ${expiresMs + PULL_TIMEOUT_MS} ms`)), expiresMs + PULL_TIMEOUT_MS);
        open = pull;
        const request = expiresMs > 0 ? { batch, expires: nanos(expiresMs) } : { batch, no_wait: true };
        try {
          connection.publish(requestSubject, JSON.stringify(request), { reply: `${base}.${token}` });
        } catch (err) {
          pull.done(err instanceof Error ? err : new Error(String(err)));
        }
      });
    },
    cancel(): void {
      open?.done();
    },
    close(): void {
      open?.done();
      sub.unsubscribe();
    },
  };
}
