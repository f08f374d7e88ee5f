/**
 * Taking task attempts off the namespace consumers with a hard bound: a worker
 * never holds more unsettled deliveries than its concurrency. The client's
 * `consume()` refills its buffer as messages *arrive*, not as they are handled, so
 * a busy worker would sit on unstarted tasks while their ack_wait runs out; here
 * each namespace runs a loop that pulls only as many messages as it has reserved
 * free slots. With several namespaces, a loop reserves at most
 * `ceil(concurrency / namespaces)` slots at a time, so one idle namespace cannot
 * starve the others for longer than one pull (FETCH_EXPIRES_MS).
 *
 * A slot is held from delivery until the delivery is settled (see delivery.ts:
 * automatic working() every keepAliveMs until then; a handler that throws gets its
 * message nak'ed). `stop()` stops pulling, waits for running handlers and
 * gives unsettled deliveries straight back (nak) for other workers. A message that
 * fails its schema is counted, logged and terminated. Pull errors (server restart,
 * network) are logged and retried.
 *
 * Priority (README "Traffic control"): each namespace has one consumer per priority level
 * (names.ts; nats-server 2.9.10 has no priority groups and a pull cannot span consumers).
 * Runs of the default priority 3 pay nothing for it: a loop that has heard of no other level
 * lately ("plain" mode) holds one waiting pull on the level-3 consumer, as it would on a
 * single consumer, and listens (core NATS, the "bell") only to the subjects of the other levels,
 * which default tasks never match. A bell marks its level as holding work and switches the loop
 * to "levels" mode: it ends its waiting pull on this side, then takes work with no-wait pulls
 * (pull.ts) of the levels that may hold some, first level to last, so a priority-1 task queued
 * behind a hundred priority-5 ones is the next one taken, FIFO within a level (stream order).
 * A pull that comes back short marks its level empty; a bell heard during it keeps it marked.
 * An idle loop in levels mode listens to the level-3 subjects as well and waits for a bell.
 * After QUIET_MS with no bell of another level, and those levels empty, it goes back to plain.
 * Redeliveries (nak, ack_wait) ring no bell: every level is pulled again at least each SWEEP_MS.
 * The waiting pull ended early stays open on the server until it expires; what it still
 * delivers runs in a free slot or is given straight back (pull.ts `onStray`).
 */
import type { NatsConnection, Subscription as CoreSubscription } from "@nats-io/transport-node";
import type { Logger } from "../../registry/types.js";
import { taskMessageSchema } from "../messages.js";
import type { ConsumeOptions, Subscription, TaskDelivery } from "../port.js";
import { decodeMessage } from "./codec.js";
import { NatsDelivery } from "./delivery.js";
import { priorityLevel } from "./names.js";
import { createPuller, type PulledMessage, type Puller } from "./pull.js";
import type { StallKeeper } from "./stall-keeper.js";
import { joinTraceContext } from "./trace-headers.js";

/** How long one waiting pull (plain mode) waits on the server for messages. */
export const FETCH_EXPIRES_MS = 5_000;
/** How often every priority level is pulled again, for redeliveries (which ring no bell). */
export const SWEEP_MS = 2_000;
/** How long a loop stays in levels mode after the last bell of a level other than 3. */
export const QUIET_MS = 30_000;
/** Pause after a failed pull before the next one. */
const RETRY_DELAY_MS = 500;
/** Index of the default level (3) in a namespace's consumers. */
const DEFAULT_INDEX = priorityLevel(undefined) - 1;

export interface TaskConsumerContext {
  connection: NatsConnection;
  /** The inbox prefix pull deliveries arrive under (the worker role's, permissions.ts). */
  inboxPrefix: string | undefined;
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
  /** Take one slot if one is free now (a delivery that came outside any pull). */
  tryTake(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }
  release(n = 1): void {
    this.free += n;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** One namespace's consumers, first priority level to last, and the subjects its bells listen to. */
export interface NamespaceConsumers {
  /** Durable consumer names, level 1 first (names.ts PRIORITY_LEVELS). */
  durables: readonly string[];
  /** `<p>.task.<ns>.*.*`: the tasks of every level but 3 (always heard). */
  otherLevels: string;
  /** `<p>.task.<ns>.*`: the tasks of level 3 (heard only by an idle loop in levels mode). */
  defaultLevel: string;
}

type Hint = 0 | 1 | 2;
/** A pull came back short: nothing waits there (as far as the loop knows). */
const EMPTY: Hint = 0;
/** Work may wait: a bell rang, a sweep is due, or it was never pulled. */
const HINTED: Hint = 1;
/** Rang, but its pull found nothing: a bell can come before its message is stored, so it is pulled once more. */
const RECHECK: Hint = 2;

/**
 * Start pulling from the given namespaces' durable consumers (one per priority level each) and run `handler` on each valid task.
 *
 * @example
 * const sub = await startTaskConsumer(ctx, [{ durables: ["pf_ns_etl_p1", "pf_ns_etl_p2", "pf_ns_etl", "pf_ns_etl_p4", "pf_ns_etl_p5"], otherLevels: "pf.task.etl.*.*", defaultLevel: "pf.task.etl.*" }], { namespaces: ["etl"], concurrency: 4 }, async (d) => { await d.ack(); });
 * await sub.stop();
 */
export function startTaskConsumer(
  ctx: TaskConsumerContext,
  namespaces: readonly NamespaceConsumers[],
  options: ConsumeOptions,
  handler: (delivery: TaskDelivery) => Promise<void>,
): Promise<Subscription> {
  const slots = new Slots(options.concurrency);
  const share = Math.max(1, Math.ceil(options.concurrency / Math.max(1, namespaces.length)));
  const lowWater = Math.max(1, Math.floor(share / 4));
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let signalStop!: () => void;
  const stopped = new Promise<void>((resolve) => (signalStop = resolve));
  const pullers: Puller[] = [];
  const bells = new Set<CoreSubscription>();

  const held = new Set<NatsDelivery>();
  // One ticker keeps every unsettled delivery alive, instead of a timer per delivery.
  const keepAlive = setInterval(() => {
    ctx.stallKeeper?.tick();
    for (const d of held) d.keepAliveTick();
  }, Math.max(50, ctx.keepAliveMs));
  keepAlive.unref();
  const run = (m: PulledMessage): void => {
    const p = handleOne(ctx, m, handler, held, () => slots.release()).finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  // A delivery outside any pull (the rest of a waiting pull ended early): run it in a free slot, or give it straight back.
  const stray = (m: PulledMessage): void => {
    if (!stopping && slots.tryTake()) run(m);
    else m.nak();
  };

  const loop = async (ns: NamespaceConsumers): Promise<void> => {
    const levels = ns.durables.map((durable) => createPuller(ctx.connection, ctx.stream, durable, ctx.inboxPrefix, stray));
    pullers.push(...levels);
    const hints: Hint[] = levels.map(() => HINTED);
    /** Bells per level, so a bell heard during a pull keeps the level marked. */
    const rings: number[] = levels.map(() => 0);
    let mode = "plain" as "plain" | "levels";
    let lastOtherBell = 0;
    let lastSweep = Date.now();
    let wake: (() => void) | undefined;
    let parked: Puller | undefined;
    let defaultBell: CoreSubscription | undefined;

    const ring = (subject: string): void => {
      const last = subject.slice(subject.lastIndexOf(".") + 1);
      const i = (/^p[1-5]$/.test(last) ? Number(last.slice(1)) : priorityLevel(undefined)) - 1;
      if (i < 0 || i >= levels.length) return;
      rings[i]!++;
      hints[i] = HINTED;
      if (i !== DEFAULT_INDEX) {
        lastOtherBell = Date.now();
        if (mode === "plain") {
          mode = "levels";
          // Level-3 tasks stored before its bell is heard are found by pulling it.
          hints[DEFAULT_INDEX] = HINTED;
          defaultBell = listen(ns.defaultLevel);
        }
        parked?.cancel();
      }
      wake?.();
    };
    const listen = (subject: string): CoreSubscription => {
      const sub = ctx.connection.subscribe(subject, { callback: (err, msg) => (err ? undefined : ring(msg.subject)) });
      bells.add(sub);
      return sub;
    };
    listen(ns.otherLevels);

    /** Pull level `i` (no-wait unless `waitMs`), running what comes; returns how many came. */
    const pullLevel = async (i: number, want: number, waitMs = 0): Promise<number> => {
      const heard = rings[i]!;
      const puller = levels[i]!;
      if (waitMs > 0) parked = puller;
      let got: number;
      try {
        got = await puller.pull(want, waitMs, run);
      } finally {
        if (waitMs > 0) parked = undefined;
      }
      if (got < want && rings[i] === heard) hints[i] = got === 0 && hints[i] === HINTED && heard > 0 && waitMs === 0 ? RECHECK : EMPTY;
      return got;
    };

    try {
      while (!stopping && !ctx.isClosed()) {
        const reserved = await slots.take(share, stopped, lowWater);
        if (reserved === 0 || stopping) {
          if (reserved > 0) slots.release(reserved);
          return;
        }
        let used = 0;
        try {
          const now = Date.now();
          if (now - lastSweep >= SWEEP_MS) {
            lastSweep = now;
            for (let i = 0; i < hints.length; i++) if (hints[i] === EMPTY) hints[i] = HINTED;
          }
          if (mode === "levels" && now - lastOtherBell >= QUIET_MS && hints.every((h, i) => i === DEFAULT_INDEX || h === EMPTY)) {
            mode = "plain";
            if (defaultBell !== undefined) {
              bells.delete(defaultBell);
              defaultBell.unsubscribe();
              defaultBell = undefined;
            }
          }
          for (let i = 0; i < levels.length && used < reserved && !stopping; i++) {
            const lowerMayHoldWork = hints.some((h, j) => j > i && h !== EMPTY);
            if (i === DEFAULT_INDEX && mode === "plain" && !lowerMayHoldWork) {
              // The fast path: one waiting pull, as on a single consumer; a bell of another level ends it.
              used += await pullLevel(i, reserved - used, FETCH_EXPIRES_MS);
              break;
            }
            if (hints[i] !== EMPTY) used += await pullLevel(i, reserved - used);
          }
          if (used === 0 && mode === "levels" && hints.every((h) => h === EMPTY)) {
            slots.release(reserved);
            used = reserved; // released already
            const woken = new Promise<void>((resolve) => (wake = resolve));
            await Promise.race([woken, delay(Math.max(1, SWEEP_MS - (Date.now() - lastSweep))), stopped]);
            wake = undefined;
          }
        } catch (err) {
          if (!stopping) {
            ctx.logger.warn({ err, consumers: ns.durables }, "pulling tasks failed; retrying");
            await Promise.race([delay(RETRY_DELAY_MS), stopped]);
          }
        } finally {
          if (reserved > used) slots.release(reserved - used);
        }
      }
    } finally {
      parked?.cancel();
    }
  };

  const loops = namespaces.map((ns) => loop(ns).catch((err: unknown) => ctx.logger.error({ err }, "task pull loop crashed")));

  let stopPromise: Promise<void> | undefined;
  return Promise.resolve({
    stop(): Promise<void> {
      stopPromise ??= (async () => {
        stopping = true;
        signalStop();
        for (const p of pullers) p.cancel();
        await Promise.all(loops);
        for (const b of bells) b.unsubscribe();
        for (const p of pullers) p.close();
        while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
        for (const d of [...held]) d.giveBack();
        clearInterval(keepAlive);
        await ctx.stallKeeper?.close();
      })();
      return stopPromise;
    },
  });
}

let deliveryIds = 0;

/** Decode, then run the handler; a malformed message is terminated and its slot released at once. */
async function handleOne(
  ctx: TaskConsumerContext,
  m: PulledMessage,
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
  // The reply subject the "+WPI" acks go to.
  if (m.reply.length > 0) ctx.stallKeeper?.hold(keeperId, m.reply);
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
