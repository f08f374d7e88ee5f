/**
 * Taking task attempts off the namespace consumers with a hard bound: a worker
 * never holds more unsettled deliveries than its concurrency. The client's
 * `consume()` refills its buffer as messages *arrive*, not as they are handled, so
 * a busy worker would sit on unstarted tasks while their ack_wait runs out; here
 * each namespace runs a loop that pulls (`fetch`) only as many messages as it has
 * reserved free slots. With several namespaces, a loop reserves at most
 * `ceil(concurrency / namespaces)` slots at a time, so one idle namespace cannot
 * starve the others for longer than one pull (FETCH_EXPIRES_MS).
 *
 * A slot is held from delivery until the delivery is settled (see delivery.ts:
 * automatic working() every keepAliveMs until then; a handler that throws gets its
 * message nak'ed). `stop()` stops pulling, waits for running handlers and
 * gives unsettled deliveries straight back (nak) for other workers. A message that
 * fails its schema is counted, logged and terminated. Pull errors (server restart,
 * network) are logged and retried.
 */
import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "../../registry/types.js";
import { taskMessageSchema } from "../messages.js";
import type { ConsumeOptions, Subscription, TaskDelivery } from "../port.js";
import { decodeMessage } from "./codec.js";
import { NatsDelivery } from "./delivery.js";
import type { StallKeeper } from "./stall-keeper.js";
import { joinTraceContext } from "./trace-headers.js";

/** How long one pull request waits on the server for messages. */
export const FETCH_EXPIRES_MS = 5_000;
/** Pause after a failed pull before the next one. */
const RETRY_DELAY_MS = 500;

export interface TaskConsumerContext {
  js: JetStreamClient;
  /** True once the connection is closed for good: pulling stops then. */
  isClosed(): boolean;
  stream: string;
  /** How often an unsettled delivery is kept alive with working(). */
  keepAliveMs: number;
  logger: Logger;
  onMalformed(): void;
  /** Keeps held deliveries alive while the main thread is blocked (stall-keeper.ts); closed with the consumer. */
  stallKeeper?: StallKeeper | undefined;
}

/** Counting semaphore over handler slots, with waiters woken as slots free up. */
class Slots {
  private free: number;
  private waiters: (() => void)[] = [];
  constructor(readonly size: number) {
    this.free = size;
  }
  /**
   * Wait for free slots, then take up to `max`; resolves 0 when `cancelled` fires first.
   * While deliveries are in flight it waits for `minFree` free slots, so a busy consumer
   * pulls in batches (one pull request per quarter of its slots) instead of one pull
   * round trip per settled task; an idle one pulls at once for a single free slot.
   */
  async take(max: number, cancelled: Promise<void>, minFree = 1): Promise<number> {
    while (this.free === 0 || (this.free < minFree && this.free < this.size)) {
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      this.waiters.push(wake);
      const stop = await Promise.race([woken.then(() => false), cancelled.then(() => true)]);
      if (stop) {
        this.waiters = this.waiters.filter((w) => w !== wake);
        return 0;
      }
    }
    const n = Math.min(this.free, max);
    this.free -= n;
    return n;
  }
  release(n = 1): void {
    this.free += n;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/**
 * Start pulling from the given durable consumers (one per namespace) and run `handler` on each valid task.
 *
 * @example
 * const sub = await startTaskConsumer(ctx, ["pf_ns_etl"], { namespaces: ["etl"], concurrency: 4 }, async (d) => { await d.ack(); });
 * await sub.stop();
 */
export async function startTaskConsumer(
  ctx: TaskConsumerContext,
  durables: readonly string[],
  options: ConsumeOptions,
  handler: (delivery: TaskDelivery) => Promise<void>,
): Promise<Subscription> {
  const consumers: Consumer[] = [];
  for (const durable of durables) consumers.push(await ctx.js.consumers.get(ctx.stream, durable));

  const slots = new Slots(options.concurrency);
  const share = Math.max(1, Math.ceil(options.concurrency / Math.max(1, consumers.length)));
  const lowWater = Math.max(1, Math.floor(share / 4));
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let signalStop!: () => void;
  const stopped = new Promise<void>((resolve) => (signalStop = resolve));
  const openFetches = new Set<{ close(): Promise<void | Error> }>();

  const held = new Set<NatsDelivery>();
  // One ticker keeps every unsettled delivery alive, instead of a timer per delivery.
  const keepAlive = setInterval(() => {
    ctx.stallKeeper?.tick();
    for (const d of held) d.keepAliveTick();
  }, Math.max(50, ctx.keepAliveMs));
  keepAlive.unref();
  const run = (m: JsMsg): void => {
    const p = handleOne(ctx, m, handler, held, () => slots.release()).finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const loop = async (consumer: Consumer, durable: string): Promise<void> => {
    while (!stopping && !ctx.isClosed()) {
      const reserved = await slots.take(share, stopped, lowWater);
      if (reserved === 0 || stopping) {
        if (reserved > 0) slots.release(reserved);
        return;
      }
      let used = 0;
      try {
        const batch = await consumer.fetch({ max_messages: reserved, expires: FETCH_EXPIRES_MS });
        openFetches.add(batch);
        // stop() may have run while the pull was being set up: it closed nothing then.
        if (stopping) void batch.close();
        try {
          for await (const m of batch) {
            if (stopping || used >= reserved) {
              m.nak(); // give it straight back rather than let it wait out ack_wait
              continue;
            }
            used++;
            run(m);
          }
        } finally {
          openFetches.delete(batch);
        }
      } catch (err) {
        if (!stopping) {
          ctx.logger.warn({ err, consumer: durable }, "pulling tasks failed; retrying");
          await Promise.race([delay(RETRY_DELAY_MS), stopped]);
        }
      } finally {
        if (reserved > used) slots.release(reserved - used);
      }
    }
  };

  const loops = consumers.map((c, i) => loop(c, durables[i] ?? "").catch((err: unknown) => ctx.logger.error({ err }, "task pull loop crashed")));

  let stopPromise: Promise<void> | undefined;
  return {
    stop(): Promise<void> {
      stopPromise ??= (async () => {
        stopping = true;
        signalStop();
        await Promise.all([...openFetches].map((f) => f.close().catch(() => undefined)));
        await Promise.all(loops);
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        for (const d of [...held]) d.giveBack();
        clearInterval(keepAlive);
        await ctx.stallKeeper?.close();
      })();
      return stopPromise;
    },
  };
}

let deliveryIds = 0;

/** Decode, then run the handler; a malformed message is terminated and its slot released at once. */
async function handleOne(
  ctx: TaskConsumerContext,
  m: JsMsg,
  handler: (delivery: TaskDelivery) => Promise<void>,
  held: Set<NatsDelivery>,
  release: () => void,
): Promise<void> {
  const decoded = decodeMessage(taskMessageSchema, m.data);
  if (!decoded.ok) {
    ctx.onMalformed();
    ctx.logger.warn({ subject: m.subject, seq: m.seq, reason: decoded.reason }, "malformed task message dropped (terminated)");
    m.term();
    release();
    return;
  }
  const keeperId = ++deliveryIds;
  // The reply subject the "+WPI" acks go to (the client's JsMsg has it, its interface does not say so).
  const reply = (m as JsMsg & { reply?: unknown }).reply;
  if (typeof reply === "string" && reply.length > 0) ctx.stallKeeper?.hold(keeperId, reply);
  const delivery: NatsDelivery = new NatsDelivery(
    m,
    m.headers === undefined ? decoded.value : joinTraceContext(decoded.value, m.headers),
    () => {
      held.delete(delivery);
      ctx.stallKeeper?.release(keeperId);
      release();
    },
    (err) => ctx.logger.warn({ err, dispatchId: decoded.value.dispatchId }, "keeping a task delivery alive failed; it is redelivered after ack_wait unless settled first"),
  );
  held.add(delivery);
  let threw = false;
  try {
    await handler(delivery);
  } catch (err) {
    threw = true;
    ctx.logger.error({ err, dispatchId: decoded.value.dispatchId }, "task handler threw; message given back (nak)");
  } finally {
    delivery.handlerFinished(threw);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
