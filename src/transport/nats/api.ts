/**
 * The fleet's API port over core NATS request/reply: an operation `op` lives on
 * `<p>.api.<op>`; a served group is a NATS queue group `<p>-<group>`, so several
 * coordinators share the requests. A request carries the caller's trace context in
 * headers (trace-headers.ts). "No responders" is recognised by the NATS client's error
 * classes (`NoRespondersError`, or a `RequestError` that `isNoResponders()`), never by
 * the message text, and comes back as the port's `NoRespondersError`.
 */
import { errors, type NatsConnection } from "@nats-io/transport-node";
import { NoRespondersError, type ApiEndpoint, type ApiPort, type ApiRequest } from "../fleet-port.js";
import { DEFAULT_MAX_PAYLOAD } from "../json.js";
import type { NatsNames } from "./names.js";
import { activeTraceHeaders, withTraceHeaders } from "./trace-headers.js";

export function natsApi(connection: NatsConnection, names: NatsNames): ApiPort {
  return {
    subject: (op) => names.subjects.api(op),
    get maxPayload() {
      return connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
    },
    serve(op, { group }, handlers): ApiEndpoint {
      const sub = connection.subscribe(names.subjects.api(op), {
        ...(group !== undefined ? { queue: `${names.prefix}-${group}` } : {}),
        callback: (err, msg) => {
          if (err) return handlers.onError(err);
          const request: ApiRequest = {
            data: msg.data,
            expectsReply: msg.reply !== undefined && msg.reply !== "",
            respond: (data) => {
              if (msg.reply) msg.respond(data);
            },
            inCallerTrace: (fn) => withTraceHeaders(msg.headers, fn),
          };
          handlers.onRequest(request);
        },
      });
      return { stop: () => sub.unsubscribe() };
    },
    async request(op, data, { timeoutMs }) {
      const subject = names.subjects.api(op);
      const headers = activeTraceHeaders();
      try {
        const reply = await connection.request(subject, data, headers === undefined ? { timeout: timeoutMs } : { timeout: timeoutMs, headers });
        return reply.data;
      } catch (err) {
        if (isNoResponders(err)) throw new NoRespondersError(subject, { cause: err });
        throw err;
      }
    },
    flush: () => connection.flush(),
  };
}

/** Whether a NATS request failed because nobody subscribes to its subject (by the client's error classes). */
export function isNoResponders(err: unknown): boolean {
  if (err instanceof errors.NoRespondersError) return true;
  return err instanceof errors.RequestError && err.isNoResponders();
}
