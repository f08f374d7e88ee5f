/**
 * Serving one request/reply endpoint of the coordinator API on the fleet's API port
 * (transport/fleet-port.ts; over NATS a queue group, so several coordinators share the
 * load). Every request is parsed with its zod schema; a malformed one gets an
 * `{ ok: false, error }` reply (when the caller waits for one) and is counted — it
 * never throws out of the endpoint (its warning is rate-limited: a flood of junk
 * requests gives a count, not a line each).
 *
 * Endpoints whose work can be heavy (reading a run's history) run through an `ApiGate`:
 * at most a few handlers at once, each after a turn of the event loop, so a storm of
 * requests queues behind the gate instead of starving the runs this coordinator drives
 * (their reports, decisions and lease renewals share the process and the connection).
 */
import type { ZodType } from "zod";
import { PhaseflowError, WireMessageInvalidError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import { decodeJsonBytes } from "../transport/decode.js";
import type { ApiEndpoint, ApiPort } from "../transport/fleet-port.js";
import type { Logger } from "../registry/types.js";
import { CoordinatorError } from "../errors/base.js";
import { ReplyTooLargeError } from "../errors/fleet.js";
import type { LogLimiter } from "../support/log-limiter.js";

/** Room left under max_payload for the protocol's own bytes. */
export const REPLY_HEADROOM = 1024;

const encoder = new TextEncoder();

export interface ApiCounters {
  requests: number;
  malformed: number;
  errors: number;
}

/** API handlers a coordinator runs at once by default; more wait their turn (FIFO). */
export const API_CONCURRENCY = 8;

/**
 * At most `limit` handlers run at once; the others wait in arrival order. Each starts
 * after a turn of the event loop (setImmediate), so I/O already waiting — a run's
 * reports, decision acks, lease renewals — goes first.
 *
 * @example
 * const gate = new ApiGate(8);
 * const reply = await gate.run(() => handler(request));
 */
export class ApiGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit = API_CONCURRENCY) {}

  /** Handlers waiting for a turn. */
  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.limit) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over by release
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}

/** How an endpoint is served besides its op and schema. */
export interface EndpointOptions {
  logger: Logger;
  counters: ApiCounters;
  /** Rate-limited warnings for malformed requests. */
  limiter: LogLimiter;
  /** Bounds how many handlers run at once (heavy endpoints); none: run at once. */
  gate?: ApiGate | undefined;
}

/** Serve `op` (shared by `group` when given): parse with `schema`, answer with `handler`'s reply (or its error). */
export function serveEndpoint<Req>(
  api: ApiPort,
  op: string,
  group: string | undefined,
  schema: ZodType<Req>,
  handler: (request: Req) => Promise<object>,
  { logger, counters, limiter, gate }: EndpointOptions,
): ApiEndpoint {
  const subject = api.subject(op);
  return api.serve(op, group !== undefined ? { group } : {}, {
    onError: (err) => logger.warn({ err, subject }, "API subscription error"),
    onRequest: (msg) => {
      counters.requests++;
      const reply = (body: object): void => {
        if (!msg.expectsReply) return;
        try {
          let data = encoder.encode(JSON.stringify(body));
          const limit = api.maxPayload - REPLY_HEADROOM;
          if (data.length > limit) {
            // Too big for one message: say so (the client reads the history itself) instead of letting the request time out.
            logger.info({ subject, bytes: data.length, limit }, "API reply over max_payload; the client is told to read the history");
            data = encoder.encode(JSON.stringify({ ok: false, error: serializeError(new ReplyTooLargeError(subject, data.length, limit)) }));
          }
          msg.respond(data);
        } catch (e) {
          logger.warn({ err: e, subject }, "could not send API reply");
        }
      };
      const parsed = decodeJsonBytes(schema, msg.data);
      if (!parsed.ok) {
        counters.malformed++;
        const error = new WireMessageInvalidError(`request on ${subject}`, [{ path: [], message: parsed.reason }]);
        limiter.warn(`malformed API request on ${subject}`, { subject, reason: parsed.reason }, "malformed API request ignored");
        reply({ ok: false, error: serializeError(error) });
        return;
      }
      // In the caller's trace context, if its request carried one (a run started inside a span is its child).
      const work = (): Promise<object> => msg.inCallerTrace(() => handler(parsed.value));
      (gate === undefined ? work() : gate.run(work)).then(reply, (e: unknown) => {
        counters.errors++;
        if (e instanceof PhaseflowError) return reply({ ok: false, error: serializeError(e) });
        // Not an error of the request: the coordinator's own (its NATS calls, a bug), coded as such.
        logger.error({ err: e, subject }, "API handler failed");
        reply({ ok: false, error: serializeError(new CoordinatorError(`answer ${subject}`, e)) });
      });
    },
  });
}
