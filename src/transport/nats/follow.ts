/**
 * Following one run's history subject(s) from a sequence on: an ordered consumer
 * on <P>_EVENTS filtered on `<p>.evt.<runId>.r` (a coordinator's reports) or
 * `<p>.evt.<runId>.*` (followers and views), starting at `afterSeq + 1`, handing
 * each stored message to the caller in order, each once.
 *
 * A coordinator holds one of these per run it drives (hundreds at once), so they
 * are kept cheap: short pulls (LIVE_PULL_EXPIRES_MS, so a restarted server is
 * noticed within seconds through missed heartbeats), and the consumer is deleted
 * on stop instead of left to the server's inactivity cleanup.
 *
 * An ordered consumer is one replica (in memory) on one server. nats.js recreates it
 * when it misses messages, but when the *server holding it* dies (a cluster node lost)
 * the client's own recovery asks that consumer for its info until the node is back:
 * it never answers, and the follow would stay silent for as long as the node is down.
 * So a follow watches itself: a pull in progress gets an idle heartbeat from the
 * server every LIVE_PULL_EXPIRES_MS / 2, and a follow that has seen no message and
 * no heartbeat for STALE_AFTER_MS is closed and opened again, on a new consumer, from
 * the next sequence it has not delivered. Opening retries with backoff: on
 * nats-server 2.9 a new one-replica consumer can be placed on the dead node, and
 * that creation times out. When `closed()` of the consumer resolves (the client gave
 * up) the same reopening runs. It stops when the follow is stopped or the
 * connection is closed for good (matched by the client's `ClosedConnectionError` /
 * `DrainingConnectionError`, never by message text).
 */
import { DeliverPolicy, type Consumer, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { ClosedConnectionError, DrainingConnectionError } from "@nats-io/transport-node";
import type { Subscription } from "../port.js";
import { deleteConsumer, type HistoryContext } from "./history.js";

/** Pull expiry of live history subscriptions: bounds how long a lost pull goes unnoticed. */
export const LIVE_PULL_EXPIRES_MS = 4_000;
/** No message and no heartbeat for this long: the consumer is gone; open a new one. */
export const STALE_AFTER_MS = 3 * LIVE_PULL_EXPIRES_MS;
const WATCH_EVERY_MS = 1_000;
const REOPEN_FIRST_DELAY_MS = 250;
const REOPEN_MAX_DELAY_MS = 5_000;

export interface FollowSpec {
  /** The filter subject (one subject or a single-token wildcard: 2.9 has no multi-filter). */
  subject: string;
  afterSeq: number;
  /** For logs: `reports of run "r1"`. */
  what: string;
  /** True once the connection is closed for good. */
  isClosed(): boolean;
}

/** What the shared watch timer checks of each open follow. */
interface Watched {
  /** `blocked`: this process itself was not running for a while (a long synchronous stretch); start a new window. */
  check(now: number, blocked: boolean): void;
}

// One timer for every follow of the process (a coordinator has hundreds), only while any is open.
const watched = new Set<Watched>();
let watchTimer: ReturnType<typeof setInterval> | undefined;

function watch(w: Watched): void {
  watched.add(w);
  if (watchTimer === undefined) {
    let lastTick = Date.now();
    watchTimer = setInterval(() => {
      const now = Date.now();
      // After the event loop was blocked, timers run before the socket is read: the
      // heartbeats may be waiting there, so silence says nothing about the servers yet.
      const blocked = now - lastTick > 3 * WATCH_EVERY_MS;
      lastTick = now;
      for (const each of watched) each.check(now, blocked);
    }, WATCH_EVERY_MS);
    watchTimer.unref();
  }
}

function unwatch(w: Watched): void {
  watched.delete(w);
  if (watched.size === 0 && watchTimer !== undefined) {
    clearInterval(watchTimer);
    watchTimer = undefined;
  }
}

/**
 * Deliver every message stored on `spec.subject` after `spec.afterSeq`, then each new one, in order.
 *
 * @example
 * const sub = await followSubject(ctx, { subject: names.subjects.reports("r1"), afterSeq: 0, what: "reports", isClosed }, (m) => ...);
 */
export async function followSubject(ctx: HistoryContext, spec: FollowSpec, onMessage: (m: JsMsg) => void): Promise<Subscription> {
  const stream = ctx.names.streams.events;
  let nextSeq = spec.afterSeq + 1;
  let stopped = false;
  let current: { consumer: Consumer; messages: ConsumerMessages; replace(): void } | undefined;
  let reopening: Promise<void> | undefined;
  let lastSign = Date.now();

  const open = async (): Promise<void> => {
    const consumer = await ctx.js.consumers.get(stream, {
      filter_subjects: spec.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: nextSeq,
    });
    if (stopped) {
      void deleteConsumer(ctx.logger, consumer);
      return;
    }
    // Set once this consumer is replaced: its last messages may still be in flight.
    let replaced = false;
    const messages = await consumer.consume({
      expires: LIVE_PULL_EXPIRES_MS,
      callback: (m) => {
        if (replaced) return;
        lastSign = Date.now();
        if (m.seq < nextSeq) return; // each seq once, in order
        nextSeq = m.seq + 1;
        onMessage(m);
      },
    });
    lastSign = Date.now();
    current = { consumer, messages, replace: () => (replaced = true) };
    void (async () => {
      for await (const n of messages.status()) {
        if (n.type === "heartbeat" && !replaced) lastSign = Date.now();
      }
    })().catch(() => undefined);
    // An ordered consumer that gave up would leave a coordinator deaf to its run's reports.
    void messages.closed().then((why) => {
      if (stopped || replaced) return;
      ctx.logger.warn({ err: why, nextSeq, subject: spec.subject }, `subscription to ${spec.what} ended; reopening it from seq ${nextSeq}`);
      startReopen();
    });
  };

  const reopen = async (): Promise<void> => {
    const old = current;
    current = undefined;
    if (old !== undefined) {
      old.replace();
      // Stop it here at once; its server may be gone, so the delete is not waited for.
      void old.messages.close().catch(() => undefined);
      void deleteConsumer(ctx.logger, old.consumer);
    }
    for (let delay = REOPEN_FIRST_DELAY_MS; !stopped; delay = Math.min(delay * 2, REOPEN_MAX_DELAY_MS)) {
      try {
        await open();
        return;
      } catch (err) {
        if (err instanceof ClosedConnectionError || err instanceof DrainingConnectionError || spec.isClosed()) {
          ctx.logger.debug({ subject: spec.subject }, `connection closed; subscription to ${spec.what} not reopened`);
          return;
        }
        ctx.logger.warn({ err, subject: spec.subject, retryInMs: delay }, `could not reopen the subscription to ${spec.what}; retrying`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };

  const startReopen = (): void => {
    reopening ??= reopen().finally(() => {
      reopening = undefined;
      lastSign = Date.now();
    });
  };

  const watcher: Watched = {
    check(now, blocked) {
      if (stopped || reopening !== undefined || spec.isClosed()) return;
      if (blocked) {
        lastSign = now;
        return;
      }
      if (now - lastSign < STALE_AFTER_MS) return;
      ctx.logger.warn({ nextSeq, subject: spec.subject, silentMs: now - lastSign }, `subscription to ${spec.what} got no message and no heartbeat for ${now - lastSign} ms (its server lost?); reopening it from seq ${nextSeq}`);
      startReopen();
    },
  };

  await open();
  watch(watcher);

  let stopPromise: Promise<void> | undefined;
  return {
    stop() {
      stopped = true;
      unwatch(watcher);
      stopPromise ??= (async () => {
        await reopening;
        if (!current) return;
        try {
          await current.messages.close();
        } catch (err) {
          ctx.logger.debug({ err, subject: spec.subject }, `closing the subscription to ${spec.what} failed`);
        }
        if (!spec.isClosed()) await deleteConsumer(ctx.logger, current.consumer);
      })();
      return stopPromise;
    },
  };
}
