/**
 * Serving one request/reply endpoint of the coordinator API on core NATS, in a queue
 * group so several coordinators share the load. Every request is parsed with its zod
 * schema; a malformed one gets an `{ ok: false, error }` reply (when it has a reply
 * subject) and is counted — it never throws out of the subscription.
 */
import type { NatsConnection, Subscription as NatsSubscription } from "@nats-io/transport-node";
import type { ZodType } from "zod";
import { PhaseflowError, WireMessageInvalidError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import { decodeMessage } from "../transport/nats/codec.js";
import type { Logger } from "../registry/types.js";

const encoder = new TextEncoder();

export interface ApiCounters {
  requests: number;
  malformed: number;
  errors: number;
}

/** Serve `subject`: parse with `schema`, answer with `handler`'s reply (or its error). */
export function serveEndpoint<Req>(
  nc: NatsConnection,
  subject: string,
  queue: string,
  schema: ZodType<Req>,
  handler: (request: Req) => Promise<object>,
  logger: Logger,
  counters: ApiCounters,
): NatsSubscription {
  return nc.subscribe(subject, {
    queue,
    callback: (err, msg) => {
      if (err) {
        logger.warn({ err, subject }, "API subscription error");
        return;
      }
      counters.requests++;
      const reply = (body: object): void => {
        if (!msg.reply) return;
        try {
          msg.respond(encoder.encode(JSON.stringify(body)));
        } catch (e) {
          logger.warn({ err: e, subject }, "could not send API reply");
        }
      };
      const parsed = decodeMessage(schema, msg.data);
      if (!parsed.ok) {
        counters.malformed++;
        const error = new WireMessageInvalidError(`request on ${subject}`, [{ path: [], message: parsed.reason }]);
        logger.warn({ subject, reason: parsed.reason }, "malformed API request ignored");
        reply({ ok: false, error: serializeError(error) });
        return;
      }
      handler(parsed.value).then(reply, (e: unknown) => {
        counters.errors++;
        if (!(e instanceof PhaseflowError)) logger.error({ err: e, subject }, "API handler failed");
        reply({ ok: false, error: serializeError(e) });
      });
    },
  });
}
