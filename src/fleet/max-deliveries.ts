/**
 * A task message that JetStream delivered `max_deliver` times without an ack (its
 * workers kept dying, or kept being cut off) is never delivered again: the server
 * publishes a MAX_DELIVERIES advisory instead. Left alone, its run would hang. This
 * watcher (one coordinator of the queue group gets each advisory) reads the message
 * by its stream sequence and reports it as a failed attempt of its task, with the
 * attempt's token from the message — a report like a worker's, so the run's holder
 * (whichever coordinator that is) judges it: retryable, the task's own retry policy
 * decides what happens next. Then it deletes the message from the stream. A message
 * that does not parse is terminated the same way (deleted and counted).
 */
import type { Subscription as NatsSubscription } from "@nats-io/transport-node";
import { z } from "zod";
import { MaxDeliveriesExceededError } from "../errors/fleet.js";
import { serializeError } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import { taskMessageSchema, undeliverableReason, WIRE_VERSION } from "../transport/messages.js";
import { decodeMessage } from "../transport/nats/codec.js";
import type { NatsTransport } from "../transport/nats/transport.js";
import { activeKey, type RunStoreKv } from "./run-store.js";

const advisorySchema = z.object({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number(),
  deliveries: z.number(),
});

/** Subscribe to the tasks stream's MAX_DELIVERIES advisories. */
export function watchMaxDeliveries(
  transport: NatsTransport,
  coordinatorId: string,
  logger: Logger,
  counters: { malformed: number },
  runs?: { kv: RunStoreKv; counters: { undeliverable: number } },
): NatsSubscription {
  const stream = transport.names.streams.tasks;
  const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.*`;
  return transport.connection.subscribe(subject, {
    queue: `${transport.names.prefix}-coordinators`,
    callback: (err, msg) => {
      if (err) {
        logger.error({ err }, "the max-deliveries advisory subscription failed; exhausted tasks are left to the watchdog");
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(new TextDecoder().decode(msg.data));
      } catch {
        raw = undefined;
      }
      const advisory = advisorySchema.safeParse(raw);
      if (!advisory.success) {
        counters.malformed++;
        return;
      }
      void handle(advisory.data.stream_seq, advisory.data.deliveries).catch((e: unknown) => logger.warn({ err: e, seq: advisory.data.stream_seq }, "could not handle a max-deliveries advisory"));
    },
  });

  async function handle(seq: number, deliveries: number): Promise<void> {
    const stored = await transport.jsm.streams.getMessage(stream, { seq });
    if (!stored) return; // acked or removed meanwhile
    const decoded = decodeMessage(taskMessageSchema, stored.data);
    if (!decoded.ok) {
      counters.malformed++;
      await deleteTask(seq);
      return;
    }
    const task = decoded.value;
    if (undeliverableReason(task) !== undefined || (runs !== undefined && (await runs.kv.active.get(activeKey(task.runId))) === undefined)) {
      // Forged, or its run is unknown or finished: nobody to report to; do not leave it in the stream.
      logger.warn({ runId: task.runId, dispatchId: task.dispatchId, deliveries }, "exhausted task message of no active run deleted");
      if (runs !== undefined) runs.counters.undeliverable++;
      await deleteTask(seq);
      return;
    }
    const error = new MaxDeliveriesExceededError(`${task.state}/${task.task}`, deliveries);
    logger.warn({ runId: task.runId, task: `${task.state}/${task.task}`, attempt: task.attempt, deliveries }, "task exhausted its deliveries: reported as a failed attempt");
    await transport.publishReport({
      v: WIRE_VERSION,
      kind: "report",
      type: "attempt.failed",
      token: task.token,
      runId: task.runId,
      at: Date.now(),
      state: task.state,
      visit: task.visit,
      task: task.task,
      attempt: task.attempt,
      dispatchId: task.dispatchId,
      workerId: `coordinator:${coordinatorId}`,
      error: serializeError(error),
      durationMs: 0,
    });
    // Only once the failure is stored: if publishing failed, the message stays for a later look.
    await deleteTask(seq);
  }

  async function deleteTask(seq: number): Promise<void> {
    await transport.jsm.streams.deleteMessage(stream, seq, false).catch((err: unknown) => logger.warn({ err, seq }, "could not delete an exhausted task message"));
  }
}
