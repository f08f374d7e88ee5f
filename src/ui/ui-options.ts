/**
 * Options of the web view's HTTP server, resolved once. The rule that keeps a run's
 * inputs and outputs (and its cancel and retry buttons) off the network: the server
 * binds to 127.0.0.1 unless told otherwise, and a host other than a loopback one needs
 * an auth token, given as `authToken` (`--auth-token`) or in `PHASEFLOW_UI_TOKEN`.
 */
import { isIP } from "node:net";
import { z } from "zod";
import { UsageError } from "../errors/base.js";
import { parseOptions } from "../support/options.js";

/** The environment variable `phaseflow ui` and `run --ui` read the token from. */
export const UI_TOKEN_ENV = "PHASEFLOW_UI_TOKEN";
export const DEFAULT_UI_PORT = 8080;
export const DEFAULT_UI_HOST = "127.0.0.1";
/** Shortest token accepted: guessing must not be practical. */
export const MIN_TOKEN_LENGTH = 16;

export interface UiServerOptions {
  /** Interface to bind. Default "127.0.0.1". Any other than a loopback one needs `authToken`. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** When set, every request and event stream must carry it (cookie or `Authorization: Bearer`). Default: none (loopback only). */
  authToken?: string;
}

export interface ResolvedUiServerOptions {
  host: string;
  port: number;
  authToken: string | undefined;
  /** Whether `host` only reaches this machine. */
  loopback: boolean;
}

const optionsSchema = z
  .object({
    host: z.string().min(1).default(DEFAULT_UI_HOST),
    port: z.number().int().min(0).max(65_535).default(DEFAULT_UI_PORT),
    authToken: z
      .string()
      .min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters; make one with: openssl rand -hex 32`)
      .regex(/^[\x21-\x7e]+$/, "must be printable ASCII with no spaces")
      .optional(),
  })
  .strict();

/** Whether a host name or address only reaches this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/**
 * Check and default the options.
 * @throws OptionsError (bad port or token), UsageError (a non-loopback host without a token)
 * @example resolveUiServerOptions({ host: "0.0.0.0", authToken: process.env.PHASEFLOW_UI_TOKEN })
 */
export function resolveUiServerOptions(options: UiServerOptions): ResolvedUiServerOptions {
  const { host, port, authToken } = parseOptions(optionsSchema, options, "web view options");
  const loopback = isLoopbackHost(host);
  if (!loopback && authToken === undefined) {
    throw new UsageError(
      `the web view would listen on ${host}, reachable from other machines, with no auth token; give --auth-token TOKEN (or set ${UI_TOKEN_ENV}), or keep the default host ${DEFAULT_UI_HOST}`,
    );
  }
  return { host, port, authToken, loopback };
}
