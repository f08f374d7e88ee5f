/**
 * Opening the NATS connection: credentials (user/pass, token, .creds file), TLS,
 * reconnect forever, and one background loop that logs connection status changes
 * (disconnect, reconnect, errors). The JetStream consumers resume after a reconnect
 * (the client's own recovery, and follow.ts's watch for a consumer whose server is
 * gone); the log tells an operator what happened meanwhile.
 */
import { readFileSync } from "node:fs";
import { AuthorizationError, PermissionViolationError, UserAuthenticationExpiredError, connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { NatsPermissionError, PhaseflowError, TransportConnectError, UsageError } from "../../errors/base.js";

// Its class lives with the other error classes (errors/base.ts): deserializeError gives it back.
export { NatsPermissionError };
import type { Logger } from "../../registry/types.js";
import type { ResolvedNatsTransportOptions } from "./options.js";

/** The client options for `connect()`, from resolved transport options. */
export function connectionOptionsOf(options: ResolvedNatsTransportOptions): NodeConnectionOptions {
  const co: NodeConnectionOptions = {
    servers: options.servers,
    name: options.name,
    // A worker or coordinator outlives server restarts: never stop trying.
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1_000,
    waitOnFirstConnect: false,
    // Skip capturing a stack trace for every request (nats.js builds an Error per request
    // otherwise): ~40% less client CPU on publish-heavy paths; timeouts carry shorter stacks.
    noAsyncTraces: true,
  };
  if (options.user !== undefined) co.user = options.user;
  if (options.pass !== undefined) co.pass = options.pass;
  if (options.token !== undefined) co.token = options.token;
  if (options.inboxPrefix !== undefined) co.inboxPrefix = options.inboxPrefix;
  if (options.credsFile !== undefined) {
    let creds: Uint8Array;
    try {
      creds = new Uint8Array(readFileSync(options.credsFile));
    } catch (err) {
      throw new UsageError(`cannot read NATS credentials file "${options.credsFile}" (${err instanceof Error ? err.message : String(err)}); check the path given as credsFile`);
    }
    co.authenticator = credsAuthenticator(creds);
  }
  if (options.tls !== undefined) {
    const tls: NonNullable<NodeConnectionOptions["tls"]> = {};
    if (options.tls.caFile !== undefined) tls.caFile = options.tls.caFile;
    if (options.tls.certFile !== undefined) tls.certFile = options.tls.certFile;
    if (options.tls.keyFile !== undefined) tls.keyFile = options.tls.keyFile;
    co.tls = tls;
  }
  return co;
}

/**
 * Connect, or throw `TransportConnectError` (code NATS_CONNECT_FAILED) naming the servers and the fix.
 *
 * @example
 * const nc = await openConnection(resolveNatsTransportOptions({ servers: "nats://127.0.0.1:4222" }));
 */
export async function openConnection(options: ResolvedNatsTransportOptions): Promise<NatsConnection> {
  try {
    return await connect(connectionOptionsOf(options));
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    if (err instanceof AuthorizationError || err instanceof UserAuthenticationExpiredError) {
      // The server is up and refused the credentials: starting a server is not the fix.
      const given = options.credsFile !== undefined ? `credentials file "${options.credsFile}"` : options.user !== undefined ? `user "${options.user}" and its password` : options.token !== undefined ? "token" : "no credentials";
      throw new TransportConnectError(
        "NATS_AUTH_FAILED",
        options.servers,
        `NATS at ${options.servers.join(", ")} refused the connection (${detail}) with ${given}; check the user and password (--user/--pass or PHASEFLOW_NATS_USER/PHASEFLOW_NATS_PASS), token or credentials file against the server's authorization block`,
        { cause: err },
      );
    }
    throw new TransportConnectError(
      "NATS_CONNECT_FAILED",
      options.servers,
      `cannot connect to NATS at ${options.servers.join(", ")}: ${detail}; start one with "nats-server -js" or pass the right URL (--nats)`,
      { cause: err },
    );
  }
}

/** Log every status change of `nc` until it closes. Returns at once; the loop runs in the background. */
export function logConnectionStatus(nc: NatsConnection, logger: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      switch (s.type) {
        case "disconnect":
          logger.warn({ server: s.server }, "NATS disconnected; reconnecting");
          break;
        case "reconnect":
          logger.info({ server: s.server }, "NATS reconnected");
          break;
        case "reconnecting":
          logger.debug("NATS reconnecting");
          break;
        case "error":
          logger.error({ err: s.error }, "NATS connection error");
          break;
        case "ldm":
          logger.warn({ server: s.server }, "NATS server entering lame duck mode");
          break;
        case "staleConnection":
          logger.warn("NATS connection stale; reconnecting");
          break;
        case "slowConsumer":
          logger.warn({ subject: s.sub.getSubject(), pending: s.pending }, "NATS slow consumer");
          break;
        case "close":
          logger.debug("NATS connection closed");
          break;
        default:
          break;
      }
    }
  })().catch((err: unknown) => logger.error({ err }, "NATS status loop ended"));
}


/** The PermissionViolationError in `err`'s cause chain (nats.js wraps it in a RequestError), if any. */
function permissionViolationIn(err: unknown): PermissionViolationError | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    if (e instanceof PermissionViolationError) return e;
    e = e.cause;
  }
  return undefined;
}

/**
 * `err` as a NatsPermissionError naming the refused subject, the user and the role this
 * process connects as (from its inbox prefix, `_INBOX_<prefix>_<role>`), when the server
 * refused an operation for lack of permission; otherwise undefined.
 */
export function permissionErrorOf(err: unknown, options: Pick<ResolvedNatsTransportOptions, "user" | "inboxPrefix" | "prefix">, doing: string): NatsPermissionError | undefined {
  if (err instanceof PhaseflowError) return err instanceof NatsPermissionError ? err : undefined; // already told
  const violation = permissionViolationIn(err);
  if (violation === undefined) return undefined;
  const role = options.inboxPrefix?.startsWith(`_INBOX_${options.prefix}_`) === true ? options.inboxPrefix.slice(`_INBOX_${options.prefix}_`.length) : undefined;
  const who = options.user !== undefined ? `user "${options.user}"` : "this connection's user";
  const operation = violation.operation === "subscription" ? "subscribe to" : "publish to";
  const fix =
    role !== undefined
      ? `${doing} needs the ${role} role: connect with the ${role} role's user from "phaseflow nats-config" (--user ${role} --pass ..., or PHASEFLOW_NATS_USER/PHASEFLOW_NATS_PASS)${options.user !== undefined && options.user !== role ? `, not ${who}` : ""}`
      : `${doing} is not allowed to ${who}; connect with a user whose permissions allow it (see "phaseflow nats-config")`;
  return new NatsPermissionError(`NATS refused ${who} permission to ${operation} "${violation.subject}" (permissions violation); ${fix}`, violation.subject, err);
}
