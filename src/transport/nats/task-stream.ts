/**
 * The fleet's view of the tasks stream `<P>_TASKS` for housekeeping: the server's
 * MAX_DELIVERIES advisories (a task message delivered `max_deliver` times without an
 * ack is never delivered again), and reading, deleting and bounding messages by
 * stream sequence for the sweep of messages no run can use. What to do with them is
 * the fleet's (fleet/max-deliveries.ts, fleet/task-sweeper.ts).
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { decodeJsonBytes } from "../decode.js";
import type { ApiEndpoint, StoredTask, TaskStreamPort } from "../fleet-port.js";
import { taskMessageSchema } from "../messages.js";
import type { NatsNames } from "./names.js";

const advisorySchema = z.object({
  stream: z.string(),
  consumer: z.string(),
  stream_seq: z.number(),
  deliveries: z.number(),
});

export function natsTaskStream(connection: NatsConnection, jsm: () => JetStreamManager, names: NatsNames): TaskStreamPort {
  const stream = names.streams.tasks;
  return {
    name: stream,
    watchExhausted(group, handlers): ApiEndpoint {
      const sub = connection.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.*`, {
        queue: `${names.prefix}-${group}`,
        callback: (err, msg) => {
          if (err) return handlers.onError(err);
          const advisory = decodeJsonBytes(advisorySchema, msg.data);
          if (!advisory.ok) return handlers.onMalformed();
          handlers.onExhausted({ seq: advisory.value.stream_seq, deliveries: advisory.value.deliveries });
        },
      });
      return { stop: () => sub.unsubscribe() };
    },
    async read(seq): Promise<StoredTask | undefined> {
      const stored = await jsm().streams.getMessage(stream, { seq });
      if (!stored) return undefined;
      return { seq, storedAt: stored.time.getTime(), subject: stored.subject, task: decodeJsonBytes(taskMessageSchema, stored.data) };
    },
    remove: (seq) => jsm().streams.deleteMessage(stream, seq, false),
    async bounds() {
      const { first_seq: first, last_seq: last } = (await jsm().streams.info(stream)).state;
      return { first, last };
    },
  };
}
