/**
 * Tasks that vanish: a task message removed from the tasks stream while its attempt was
 * never heard of — no start, no report. On a work-queue stream nats-server 2.9 removes a
 * message on an ack of its sequence from anyone allowed to ack on the consumer, so a
 * worker-role user can ack away tasks it was never delivered (a forged `+ACK`); the run
 * would then wait for the watchdog (10 minutes by default).
 *
 * Every `checkMs` this coordinator looks at the attempts of the runs it drives that were
 * dispatched more than `checkMs` ago and are still waiting for their start, and asks the
 * stream whether their message is still there. A message that is gone on two checks in a
 * row, with no report for the attempt in the run's history (a worker that ran a short
 * attempt stores its report before it acks, and that report may still be on its way),
 * is suspicious: the attempt is dispatched again at once (counted like a watchdog's
 * re-dispatch, against maxLost), logged at warn level and counted in the coordinator's
 * `vanished` stat.
 *
 * Attempts dispatched by an earlier holder of the run are looked for among the stream's
 * messages (transport/nats/task-presence.ts). That holder may have stored the decision and
 * died before its task message went out (a new run's first tasks wait for the run's claim
 * to be stored): without this, the run would wait for the watchdog. On a stream too full
 * to look through, they are left to the watchdog.
 */
import type { Engine } from "../embedded/engine.js";
import type { Logger } from "../registry/types.js";
import type { NatsTransport } from "../transport/nats/transport.js";

/** Default check period, and the least age of an attempt before it is looked at. */
export const DEFAULT_VANISHED_CHECK_MS = 2_000;

export interface VanishedTaskWatchOptions {
  transport: NatsTransport;
  engine: Engine;
  /** The runs this coordinator drives now. */
  runIds(): readonly string[];
  checkMs: number;
  logger: Logger;
  counters: { vanished: number };
  now?: () => number;
}

export interface VanishedTaskWatch {
  /** One check now (the timer runs them every checkMs). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * @example
 * const watch = startVanishedTaskWatch({ transport, engine, runIds: () => driver.runIds(), checkMs: 2000, logger, counters });
 * watch.stop();
 */
export function startVanishedTaskWatch(o: VanishedTaskWatchOptions): VanishedTaskWatch {
  const now = o.now ?? Date.now;
  /** Attempts found gone on the last check: `runId\0dispatchId`. */
  let suspects = new Set<string>();
  let running: Promise<void> | undefined;

  const checkOnce = async (): Promise<void> => {
    const seen = new Set<string>();
    const before = now() - o.checkMs;
    for (const runId of o.runIds()) {
      const gone: string[] = [];
      const waiting = o.engine.unstarted(runId, before);
      if (waiting.length === 0) continue;
      const stored = await o.transport.taskMessagesStored(waiting);
      for (const [i, a] of waiting.entries()) {
        if (stored[i] !== false) continue;
        const key = `${runId}\u0000${a.dispatchId}`;
        seen.add(key);
        if (suspects.has(key)) gone.push(a.dispatchId);
      }
      if (gone.length === 0) continue;
      // A report may be stored and on its way (a short attempt acks once its report is stored): look before acting.
      const { messages } = await o.transport.readHistory(runId);
      const reported = new Set(messages.flatMap((m) => (m.message.kind === "report" ? [m.message.dispatchId] : [])));
      for (const dispatchId of gone) {
        if (reported.has(dispatchId)) continue;
        if (!o.engine.unstarted(runId, before).some((a) => a.dispatchId === dispatchId)) continue; // heard of meanwhile
        o.counters.vanished++;
        o.logger.warn(
          { runId, dispatchId },
          "suspicious: a task message is not in the tasks stream, with no start and no report for its attempt (acked by someone it was not delivered to, or never sent by a coordinator that died); dispatching it again",
        );
        o.engine.attemptLost(runId, dispatchId, "its task message is not in the tasks stream and no worker started it (a forged or stray ack, or a coordinator that died before sending it)");
        seen.delete(`${runId}\u0000${dispatchId}`);
      }
    }
    suspects = seen;
  };

  const check = (): Promise<void> => {
    running ??= checkOnce()
      .catch((err: unknown) => o.logger.warn({ err }, "checking for vanished task messages failed; checked again shortly"))
      .finally(() => (running = undefined));
    return running;
  };

  const timer = setInterval(() => void check(), o.checkMs);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
