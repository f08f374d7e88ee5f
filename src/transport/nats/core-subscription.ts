/**
 * Core NATS (not stored) subscriptions with a zod-validated body: control
 * broadcasts on `<p>.ctl` and a run's live signals on `<p>.live.<runId>`. A
 * malformed message is counted, logged (rate-limited) and dropped; a handler that throws is
 * logged and the next message still arrives.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { ZodType } from "zod";
import type { Logger } from "../../registry/types.js";
import type { Subscription } from "../port.js";
import { decodeMessage } from "./codec.js";
import type { LogLimiter } from "../../support/log-limiter.js";

export interface CoreSubscriptionContext {
  connection: NatsConnection;
  logger: Logger;
  /** Malformed messages are logged through it: counted, not one line each. */
  limiter: LogLimiter;
  onMalformed(): void;
}

/**
 * Subscribe to `subject`, resolving once the server knows the subscription (flush).
 *
 * @example
 * const sub = await subscribeCore(ctx, names.subjects.live("r1"), liveSignalSchema, "live signal", (s) => ...);
 */
export async function subscribeCore<T>(
  ctx: CoreSubscriptionContext,
  subject: string,
  schema: ZodType<T>,
  what: string,
  handler: (value: T) => void,
): Promise<Subscription> {
  const sub = ctx.connection.subscribe(subject, {
    callback: (err, msg) => {
      if (err) {
        ctx.logger.error({ err, subject }, `${what} subscription failed; no more ${what}s arrive on it`);
        return;
      }
      const decoded = decodeMessage(schema, msg.data);
      if (!decoded.ok) {
        ctx.onMalformed();
        ctx.limiter.warn(`malformed ${what}`, { subject: msg.subject, reason: decoded.reason }, `malformed ${what} dropped`);
        return;
      }
      try {
        handler(decoded.value);
      } catch (e) {
        ctx.logger.error({ err: e, subject }, `${what} handler threw; message skipped`);
      }
    },
  });
  await ctx.connection.flush();
  return {
    stop: () => {
      if (!sub.isClosed()) sub.unsubscribe();
      return Promise.resolve();
    },
  };
}
