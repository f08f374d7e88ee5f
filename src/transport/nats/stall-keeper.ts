/**
 * Keeping task deliveries alive while the main thread is blocked. The task
 * consumer keeps every unsettled delivery alive (`working()`, "+WPI") from a ticker
 * on the main thread; an executor that computes synchronously for longer than
 * ack_wait blocks that ticker, and JetStream would hand the same task to another
 * worker while the first still runs. The stall keeper is a `worker_threads` thread
 * with its own NATS connection: the main thread tells it which deliveries it holds
 * (their reply subjects) and stamps a shared clock on every tick; when the stamp is
 * older than a tick and a half, the main thread is stalled, and the thread sends
 * "+WPI" for every held delivery itself, until the main thread is back. A blocked
 * attempt is therefore never run twice in parallel; it still cannot be cancelled or
 * timed out until it yields (and the coordinator's watchdog, 10 min by default, is
 * the bound on how long it may stay silent).
 *
 * Holds and releases reach the thread through shared memory, not messages: the main
 * thread writes each held delivery's reply subject into a slot of a SharedArrayBuffer
 * (held-replies.ts) and clears it on release, and the thread reads the slots only when the
 * main thread is stalled. A message to a thread costs a few microseconds on both sides and
 * wakes the thread; a busy worker holds and releases thousands of deliveries a second, and a
 * chain of short tasks paid two such messages per task. A hold is written before its
 * executor can run, so the thread knows every delivery an executor may block.
 *
 * The thread's code is plain JavaScript (no loader needed, also from the TypeScript
 * source), importing the NATS client by its resolved URL.
 */
import { Worker } from "node:worker_threads";
import type { Logger } from "../../registry/types.js";
import { HeldReplies, READ_HELD_SOURCE } from "./held-replies.js";
import type { ResolvedNatsTransportOptions } from "./options.js";

const THREAD_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { readFileSync } = require("node:fs");
let nc;
let timer;
let closing = false;
let table = workerData.table;
const decoder = new TextDecoder();
${READ_HELD_SOURCE}
parentPort.on("message", (m) => {
  if (m.op === "table") {
    table = m.table;
  } else if (m.op === "close") {
    closing = true;
    clearInterval(timer);
    Promise.resolve(nc && nc.drain()).catch(() => undefined).finally(() => parentPort.close());
  }
});
(async () => {
  const nats = await import(workerData.natsUrl);
  const options = { ...workerData.connect };
  if (workerData.credsFile) options.authenticator = nats.credsAuthenticator(new Uint8Array(readFileSync(workerData.credsFile)));
  const connection = await nats.connect(options);
  if (closing) {
    // Closed while connecting: nothing to keep alive.
    await connection.close().catch(() => undefined);
    return;
  }
  nc = connection;
  const stamp = new Float64Array(workerData.stamp);
  const wpi = new TextEncoder().encode("+WPI");
  let stalled = false;
  timer = setInterval(() => {
    const behind = Date.now() - stamp[0];
    if (behind < workerData.stallMs) {
      if (stalled) parentPort.postMessage({ op: "resumed", behindMs: behind });
      stalled = false;
      return;
    }
    const replies = readHeld(table, decoder);
    if (!stalled) parentPort.postMessage({ op: "stalled", held: replies.length });
    stalled = true;
    for (const reply of replies) nc.publish(reply, wpi);
  }, workerData.intervalMs);
  parentPort.postMessage({ op: "ready" });
})().catch((err) => parentPort.postMessage({ op: "error", message: String((err && err.message) || err) }));
`;

export interface StallKeeper {
  /** The main thread holds this delivery (until `release`). */
  hold(id: number, reply: string): void;
  release(id: number): void;
  /** The main thread is alive: called on every keep-alive tick. */
  tick(): void;
  close(): Promise<void>;
}

/**
 * The keeper; its thread starts with the first held delivery, and keeps deliveries
 * alive from its first tick on (what was held before it connected is in the table).
 *
 * @example
 * const keeper = startStallKeeper(resolvedOptions, 10_000, logger);
 * keeper.hold(1, msg.reply); // ... keeper.release(1); await keeper.close();
 */
export function startStallKeeper(options: ResolvedNatsTransportOptions, keepAliveMs: number, logger: Logger): StallKeeper {
  const stamp = new SharedArrayBuffer(8);
  const now = new Float64Array(stamp);
  now[0] = Date.now();
  const connect: Record<string, unknown> = { servers: options.servers, name: `${options.name} (stall keeper)`, maxReconnectAttempts: -1, reconnectTimeWait: 1_000 };
  if (options.user !== undefined) connect.user = options.user;
  if (options.pass !== undefined) connect.pass = options.pass;
  if (options.token !== undefined) connect.token = options.token;
  if (options.tls !== undefined) connect.tls = { ...options.tls };
  let thread: Worker | undefined;
  let closed = false;
  const held = new HeldReplies();
  // Started with the first held delivery: a consumer that never gets a task costs no thread.
  const started = (): Worker => {
    if (thread !== undefined) return thread;
    const t = new Worker(THREAD_SOURCE, {
      eval: true,
      workerData: {
        natsUrl: import.meta.resolve("@nats-io/transport-node"),
        connect,
        credsFile: options.credsFile,
        stamp,
        table: held.table,
        stallMs: Math.floor(keepAliveMs * 1.5),
        intervalMs: Math.max(50, Math.floor(keepAliveMs / 2)),
      },
    });
    t.unref();
    t.on("message", (m: { op: string; message?: string; held?: number; behindMs?: number }) => {
      if (m.op === "error") logger.warn({ reason: m.message }, "the stall keeper thread could not connect; tasks that block the event loop past ack_wait may be redelivered");
      else if (m.op === "stalled") logger.warn({ held: m.held }, "the event loop is blocked (a synchronous executor?); the stall keeper thread keeps its task deliveries alive");
      else if (m.op === "resumed") logger.info({ blockedMs: m.behindMs }, "the event loop is running again");
    });
    t.on("error", (err) => logger.warn({ err }, "the stall keeper thread failed; tasks that block the event loop past ack_wait may be redelivered"));
    thread = t;
    return t;
  };
  return {
    hold(id, reply) {
      if (closed) return;
      now[0] = Date.now();
      // A table made anew (more slots, or longer replies) goes to a running thread; a new thread gets it with its start.
      if (held.hold(id, reply) && thread !== undefined) thread.postMessage({ op: "table", table: held.table });
      started();
    },
    release(id) {
      if (closed) return;
      held.release(id);
    },
    tick() {
      now[0] = Date.now();
    },
    async close() {
      if (closed) return;
      closed = true;
      const running = thread;
      if (running === undefined) return;
      const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
      running.postMessage({ op: "close" });
      const timer = setTimeout(() => void running.terminate(), 2_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
