/**
 * Run events on the <P>_EVENTS stream, one subject per run (`<p>.evt.<runId>`):
 * publishing resolves once JetStream has stored the event (PubAck); live
 * subscribers read through an ordered consumer that starts after the stream's
 * current last sequence, so every event stored after `subscribeEvents` resolves is
 * seen, in order; `readRunEvents` replays one run's subject from the start with a
 * short-lived ordered consumer (nats-server 2.9 has no batch direct get).
 *
 * Ordered consumers are ephemeral and recreate themselves after a reconnect from
 * the last sequence they saw; we delete them when done instead of leaving them to
 * the server's 5-minute inactivity cleanup.
 */
import { DeliverPolicy, type Consumer, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { TransportOperationError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { runEventSchema, type RunEvent } from "../messages.js";
import type { Subscription } from "../port.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import type { NatsNames } from "./names.js";

/** Most events pulled per request while replaying a run's history. */
const READ_BATCH = 500;
const READ_EXPIRES_MS = 5_000;
/** Pull expiry of live event subscriptions: bounds how long a lost pull goes unnoticed. */
export const LIVE_PULL_EXPIRES_MS = 4_000;

export interface EventsContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  logger: Logger;
  maxPayload(): number | undefined;
  onMalformed(): void;
}

/** `event "task.succeeded" of run "r1" (task "ingest/load")`, for error messages. */
export function describeEvent(event: RunEvent): string {
  const task = "task" in event && "state" in event ? ` (task "${event.state}/${event.task}")` : "";
  return `event "${event.type}" of run "${event.runId}"${task}`;
}

/**
 * Validate, encode and store one event; resolves on the server's PubAck.
 *
 * @example
 * await publishRunEvent(ctx, { type: "run.cancelled", runId: "r1", at: Date.now(), reason: "user" });
 */
export async function publishRunEvent(ctx: EventsContext, event: RunEvent): Promise<void> {
  const what = describeEvent(event);
  const subject = ctx.names.subjects.runEvents(event.runId);
  const data = encodeMessage(runEventSchema, event, what, ctx.maxPayload());
  try {
    await ctx.js.publish(subject, data);
  } catch (err) {
    throw new TransportOperationError(
      "NATS_PUBLISH_FAILED",
      `${what} was not stored in stream "${ctx.names.streams.events}": ${err instanceof Error ? err.message : String(err)}; check that nats-server is up with JetStream, then retry`,
      { cause: err },
    );
  }
}

/**
 * Deliver every event stored from now on to `handler`, in stream order.
 *
 * @example
 * const sub = await subscribeRunEvents(ctx, (e) => console.log(e.type));
 */
export async function subscribeRunEvents(ctx: EventsContext, handler: (event: RunEvent) => void): Promise<Subscription> {
  const stream = ctx.names.streams.events;
  const info = await ctx.jsm.streams.info(stream);
  let nextSeq = info.state.last_seq + 1;
  let stopped = false;
  let current: { consumer: Consumer; messages: Awaited<ReturnType<Consumer["consume"]>> } | undefined;

  const open = async (): Promise<void> => {
    const consumer = await ctx.js.consumers.get(stream, {
      filter_subjects: ctx.names.subjects.events,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: nextSeq,
    });
    // Short pulls (and so heartbeats every few seconds) let the ordered consumer notice a
    // restarted server within seconds instead of the default 30 s pull + missed heartbeats.
    const messages = await consumer.consume({
      expires: LIVE_PULL_EXPIRES_MS,
      callback: (m) => {
        nextSeq = m.seq + 1;
        const event = decodeEvent(ctx, m);
        if (event === undefined) return;
        try {
          handler(event);
        } catch (err) {
          ctx.logger.error({ err, type: event.type, runId: event.runId }, "event handler threw; event skipped");
        }
      },
    });
    current = { consumer, messages };
    // The ordered consumer gives up after a long outage; a coordinator that silently stopped
    // hearing events would drive runs that never finish. Reopen from the next sequence.
    void messages.closed().then((why) => {
      if (stopped) return;
      ctx.logger.warn({ err: why, nextSeq }, "run event subscription ended; reopening it");
      void reopen();
    });
  };
  const reopen = async (): Promise<void> => {
    for (let delay = 500; !stopped; delay = Math.min(delay * 2, 10_000)) {
      try {
        if (current) await deleteQuietly(current.consumer);
        await open();
        return;
      } catch (err) {
        if (/connection closed|closed connection/i.test(err instanceof Error ? `${err.name} ${err.message}` : String(err))) return;
        ctx.logger.warn({ err }, "could not reopen the run event subscription; retrying");
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
        await current.messages.close().catch(() => undefined);
        await deleteQuietly(current.consumer);
      })();
      return stopPromise;
    },
  };
}

/**
 * The stored history of one run, oldest first. Malformed entries are counted and skipped.
 *
 * @example
 * const history = await readStoredRunEvents(ctx, "run_0001");
 */
export async function readStoredRunEvents(ctx: EventsContext, runId: string): Promise<RunEvent[]> {
  const subject = ctx.names.subjects.runEvents(runId);
  const consumer = await ctx.js.consumers.get(ctx.names.streams.events, { filter_subjects: subject, deliver_policy: DeliverPolicy.All });
  try {
    let remaining = (await consumer.info(true)).num_pending;
    const events: RunEvent[] = [];
    while (remaining > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(remaining, READ_BATCH), expires: READ_EXPIRES_MS });
      let received = 0;
      for await (const m of batch) {
        received++;
        remaining = m.info.pending;
        const event = decodeEvent(ctx, m);
        if (event !== undefined) events.push(event);
      }
      if (received === 0) {
        throw new TransportOperationError(
          "NATS_READ_FAILED",
          `reading the history of run "${runId}" stalled with ${remaining} events left in stream "${ctx.names.streams.events}"; check the server and retry`,
        );
      }
    }
    return events;
  } finally {
    await deleteQuietly(consumer);
  }
}

function decodeEvent(ctx: EventsContext, m: JsMsg): RunEvent | undefined {
  const decoded = decodeMessage(runEventSchema, m.data);
  if (decoded.ok) return decoded.value;
  ctx.onMalformed();
  ctx.logger.warn({ subject: m.subject, seq: m.seq, reason: decoded.reason }, "malformed run event skipped");
  return undefined;
}

async function deleteQuietly(consumer: Consumer): Promise<void> {
  try {
    await consumer.delete();
  } catch {
    // ephemeral: the server removes it after its inactivity threshold anyway
  }
}
