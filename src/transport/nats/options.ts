/**
 * Options of the NATS transport, parsed once with zod into a fully resolved
 * object (defaults filled in) that the rest of the adapter passes around.
 */
import { DEFAULT_INLINE_BYTES, DEFAULT_MAX_VALUE_BYTES } from "../payloads.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { parseOptions } from "../../support/options.js";
import type { Logger } from "../../registry/types.js";
import { createSilentLogger } from "../../support/logger.js";
import { checkPrefix, DEFAULT_PREFIX } from "./names.js";

/** JetStream keeps at most 5 replicas of a stream. */
export const MAX_REPLICAS = 5;

export interface NatsTlsOptions {
  /** CA certificate file to verify the server with. */
  caFile?: string | undefined;
  /** Client certificate file (mutual TLS). */
  certFile?: string | undefined;
  /** Client key file (mutual TLS). */
  keyFile?: string | undefined;
}

export interface NatsTransportOptions {
  /** Server URL(s), e.g. "nats://127.0.0.1:4222". Required unless `connection` is given. */
  servers?: string | string[];
  /** Client name shown by the server's monitoring. Default "phaseflow". */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS `.creds` file (JWT + nkey seed). */
  credsFile?: string;
  tls?: NatsTlsOptions;
  /**
   * Where replies and pull deliveries arrive (`<inboxPrefix>.<id>`). Default: each service
   * uses its role's, `_INBOX_<prefix>_<coordinator|worker|client>` (see `phaseflow nats-config`).
   */
  inboxPrefix?: string;
  /** Names every stream, bucket and subject (see `natsNames`). Default "pf". */
  prefix?: string;
  /** How long the server waits for an ack before redelivering a task. Default 30000. */
  ackWaitMs?: number;
  /** Deliveries of one task message before the server gives up on it. Default 5. */
  maxDeliver?: number;
  /**
   * Max age of entries in the workers KV bucket: a heartbeat not refreshed within
   * this time ages out (nats-server 2.9 has no per-key TTL). Default 60000.
   */
  workerTtlMs?: number;
  /**
   * Raft replicas of the streams and KV buckets phaseflow creates (1 to 5; 3 is the usual
   * choice on a 3-node cluster). Given, it is also checked: an existing stream or bucket
   * with another count is an `InfrastructureMismatchError` whose fix is
   * `phaseflow nats-setup --replicas N`. Not given, resources are created with 1 replica
   * and existing ones are used at whatever count they have (so workers and clients need
   * not repeat the coordinator's setting).
   */
  replicas?: number;
  /**
   * Task consumers keep their deliveries alive from a thread of their own (own NATS
   * connection) while an executor blocks the event loop, so a long synchronous task is
   * not redelivered to another worker while it still runs (stall-keeper.ts). Default true.
   */
  stallKeeper?: boolean;
  /**
   * A user value (task input or output, run input or output, signal payload) whose JSON is
   * larger travels as a reference to the object store bucket `<p>_payloads` instead of in
   * the message (README "Payloads of any size"). Default 262144 (256 KiB); at most the
   * server's max_payload minus room for the message around it.
   */
  inlineBytes?: number;
  /** The largest user value accepted, in bytes of JSON: a larger one fails with PAYLOAD_TOO_LARGE naming this option. Default 67108864 (64 MiB). */
  maxPayload?: number;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Reuse an open connection instead of connecting; `close()` then leaves it open. */
  connection?: NatsConnection;
}

export interface ResolvedNatsTransportOptions {
  servers: string[];
  name: string;
  user: string | undefined;
  pass: string | undefined;
  token: string | undefined;
  credsFile: string | undefined;
  tls: NatsTlsOptions | undefined;
  inboxPrefix: string | undefined;
  prefix: string;
  ackWaitMs: number;
  maxDeliver: number;
  workerTtlMs: number;
  replicas: number | undefined;
  stallKeeper: boolean;
  inlineBytes: number;
  maxPayload: number;
  logger: Logger;
  connection: NatsConnection | undefined;
}

const isConnection = (v: unknown): v is NatsConnection =>
  typeof v === "object" && v !== null && typeof (v as { publish?: unknown }).publish === "function" && typeof (v as { subscribe?: unknown }).subscribe === "function";
const isLogger = (v: unknown): v is Logger =>
  typeof v === "object" && v !== null && ["info", "warn", "error", "debug", "child"].every((k) => typeof (v as Record<string, unknown>)[k] === "function");

export const natsTransportOptionsSchema = z
  .object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    name: z.string().min(1).default("phaseflow"),
    user: z.string().optional(),
    pass: z.string().optional(),
    token: z.string().optional(),
    credsFile: z.string().min(1).optional(),
    tls: z.object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() }).strict().optional(),
    inboxPrefix: z.string().regex(/^[A-Za-z0-9_$-]+$/, "must be one subject token (letters, digits, _, $, -)").optional(),
    prefix: z.string().default(DEFAULT_PREFIX).superRefine((p, ctx) => {
      const problem = checkPrefix(p);
      if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
    }),
    ackWaitMs: z.number().int().min(1000).default(30_000),
    maxDeliver: z.number().int().min(1).default(5),
    workerTtlMs: z.number().int().min(1000).default(60_000),
    replicas: z.number().int().min(1).max(MAX_REPLICAS).optional(),
    stallKeeper: z.boolean().default(true),
    inlineBytes: z.number().int().min(1024).max(512 * 1024).default(DEFAULT_INLINE_BYTES),
    maxPayload: z.number().int().min(1024).default(DEFAULT_MAX_VALUE_BYTES),
    logger: z.custom<Logger>(isLogger, "must be a pino-like logger (info, warn, error, debug, child)").optional(),
    connection: z.custom<NatsConnection>(isConnection, "must be a NatsConnection").optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.servers === undefined && o.connection === undefined) {
      ctx.addIssue({ code: "custom", path: ["servers"], message: 'give the server URL(s), e.g. servers: "nats://127.0.0.1:4222", or an open connection' });
    }
    if (o.pass !== undefined && o.user === undefined) {
      ctx.addIssue({ code: "custom", path: ["pass"], message: "a password needs a user" });
    }
    if (o.token !== undefined && o.user !== undefined) {
      ctx.addIssue({ code: "custom", path: ["token"], message: "use either token or user/pass, not both" });
    }
  });

/**
 * Validate and fill in defaults; throws `OptionsError` (code OPTIONS_INVALID).
 *
 * @example
 * const resolved = resolveNatsTransportOptions({ servers: "nats://127.0.0.1:4222", prefix: "staging" });
 * resolved.ackWaitMs; // 30000
 */
export function resolveNatsTransportOptions(options: NatsTransportOptions): ResolvedNatsTransportOptions {
  const o = parseOptions(natsTransportOptionsSchema, options, "NATS transport options");
  return {
    servers: o.servers === undefined ? [] : Array.isArray(o.servers) ? o.servers : [o.servers],
    name: o.name,
    user: o.user,
    pass: o.pass,
    token: o.token,
    credsFile: o.credsFile,
    tls: o.tls,
    inboxPrefix: o.inboxPrefix,
    prefix: o.prefix,
    ackWaitMs: o.ackWaitMs,
    maxDeliver: o.maxDeliver,
    workerTtlMs: o.workerTtlMs,
    replicas: o.replicas,
    stallKeeper: o.stallKeeper,
    inlineBytes: o.inlineBytes,
    maxPayload: o.maxPayload,
    logger: o.logger ?? createSilentLogger(),
    connection: o.connection,
  };
}
