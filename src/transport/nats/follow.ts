/**
 * Following one run's history subject(s) from a sequence on: an ordered consumer
 * on <P>_EVENTS filtered on `<p>.evt.<runId>.r` (a coordinator's reports) or
 * `<p>.evt.<runId>.*` (followers and views), starting at `afterSeq + 1`, handing
 * each stored message to the caller in order.
 *
 * A coordinator holds one of these per run it drives (hundreds at once), so they
 * are kept cheap: short pulls (LIVE_PULL_EXPIRES_MS, so a restarted server is
 * noticed within seconds through missed heartbeats), and the consumer is deleted
 * on stop instead of left to the server's inactivity cleanup.
 *
 * The ordered consumer recreates itself after a reconnect from the last sequence
 * it delivered; after a long outage it gives up and its `closed()` resolves, and
 * we reopen it from the next sequence with backoff, until stopped or until the
 * connection is closed for good (matched by the client's `ClosedConnectionError` /
 * `DrainingConnectionError`, never by message text).
 */
import { DeliverPolicy, type Consumer, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import { ClosedConnectionError, DrainingConnectionError } from "@nats-io/transport-node";
import type { Subscription } from "../port.js";
import { deleteConsumer, type HistoryContext } from "./history.js";

/** Pull expiry of live history subscriptions: bounds how long a lost pull goes unnoticed. */
export const LIVE_PULL_EXPIRES_MS = 4_000;
const REOPEN_FIRST_DELAY_MS = 500;
const REOPEN_MAX_DELAY_MS = 10_000;

export interface FollowSpec {
  /** The filter subject (one subject or a single-token wildcard: 2.9 has no multi-filter). */
  subject: string;
  afterSeq: number;
  /** For logs: `reports of run "r1"`. */
  what: string;
  /** True once the connection is closed for good. */
  isClosed(): boolean;
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
  let current: { consumer: Consumer; messages: ConsumerMessages } | undefined;

  const open = async (): Promise<void> => {
    const consumer = await ctx.js.consumers.get(stream, {
      filter_subjects: spec.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: nextSeq,
    });
    const messages = await consumer.consume({
      expires: LIVE_PULL_EXPIRES_MS,
      callback: (m) => {
        nextSeq = m.seq + 1;
        onMessage(m);
      },
    });
    current = { consumer, messages };
    // An ordered consumer that gave up would leave a coordinator deaf to its run's reports.
    void messages.closed().then((why) => {
      if (stopped) return;
      ctx.logger.warn({ err: why, nextSeq, subject: spec.subject }, `subscription to ${spec.what} ended; reopening it from seq ${nextSeq}`);
      void reopen();
    });
  };

  const reopen = async (): Promise<void> => {
    for (let delay = REOPEN_FIRST_DELAY_MS; !stopped; delay = Math.min(delay * 2, REOPEN_MAX_DELAY_MS)) {
      try {
        if (current) await deleteConsumer(ctx.logger, current.consumer);
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

  await open();

  let stopPromise: Promise<void> | undefined;
  return {
    stop() {
      stopped = true;
      stopPromise ??= (async () => {
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
