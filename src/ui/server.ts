/**
 * The web view's HTTP server (node:http, no framework): the page's files, a small
 * JSON API over a `UiBackend`, and one server-sent event stream per open run page.
 *
 * Security: it binds to 127.0.0.1 by default (see ui-options.ts). With an auth token,
 * every request — files, API, event stream — must carry it, in the `pf_ui_token`
 * cookie (set when the page is opened as `/?token=...`) or as `Authorization: Bearer`;
 * without one (loopback only) the Host header must name this machine, which defeats
 * DNS rebinding. Cancel and retry are POSTs with a JSON body from the page's own origin.
 * The routes below are all there is: no executor, no NATS subject, no file beyond the
 * page's own is reachable.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { PhaseflowError, RunNotFoundError, UsageError } from "../errors/base.js";
import { ApiRequestError } from "../errors/fleet.js";
import { formatIssues, toSchemaIssues } from "../support/schema-issues.js";
import { runStatusSchema } from "../runtime/core/run-record-schema.js";
import type { Logger } from "../registry/types.js";
import { createSilentLogger } from "../support/logger.js";
import { createAssetStore } from "./assets.js";
import type { UiBackend } from "./backend.js";
import { streamRun } from "./event-stream.js";
import { isLoopbackHost, resolveUiServerOptions, type UiServerOptions } from "./ui-options.js";

export interface UiServer {
  /** Where the page is, e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface CreateUiServerOptions extends UiServerOptions {
  backend: UiBackend;
  logger?: Logger;
  /** The event stream's push interval. Default 100 ms. */
  flushMs?: number;
}

const COOKIE = "pf_ui_token";
const MAX_BODY = 64 * 1024;
const MAX_PAGE = 200;
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const cancelBodySchema = z.object({ reason: z.string().max(500).optional() }).strict();
const retryBodySchema = z.object({ from: z.object({ state: z.string().min(1), task: z.string().min(1) }).strict().optional() }).strict();
const listQuerySchema = z.object({
  workflow: z.string().min(1).max(200).optional(),
  status: runStatusSchema.optional(),
  /** Only the child runs of this run. */
  parent: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, "must be a run id").optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(25),
  before: z.string().regex(/^\d+~[A-Za-z0-9_-]{1,200}$/, "must be <ms>~<runId>").optional(),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Start the web view.
 * @throws UsageError (options), or the listen error (port in use)
 * @example
 * const ui = await startUiServer({ backend: createFleetBackend(client, logger), port: 8080 });
 * console.log(`open ${ui.url}`);
 */
export async function startUiServer(options: CreateUiServerOptions): Promise<UiServer> {
  const { backend, logger = createSilentLogger(), flushMs, ...rest } = options;
  const o = resolveUiServerOptions(rest);
  const assets = createAssetStore();
  const token = o.authToken === undefined ? undefined : Buffer.from(o.authToken);

  const sameToken = (given: string | undefined): boolean => {
    if (token === undefined || given === undefined) return false;
    const b = Buffer.from(given);
    return b.length === token.length && timingSafeEqual(b, token);
  };
  const authorized = (req: IncomingMessage): boolean => {
    if (token === undefined) return true;
    const auth = req.headers.authorization;
    if (auth?.startsWith("Bearer ") === true && sameToken(auth.slice(7))) return true;
    return sameToken(cookieOf(req, COOKIE));
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://ui.invalid");
    const method = req.method ?? "GET";
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    // Without a token, only this machine may ask, by a name of this machine.
    if (token === undefined && !isLoopbackHost(hostOf(req.headers.host))) throw new HttpError(403, "HOST_REFUSED", "this web view answers only to localhost / 127.0.0.1");
    // Opening `/?token=...` once stores the token in a cookie and drops it from the address bar.
    const given = url.searchParams.get("token");
    if (method === "GET" && url.pathname === "/" && given !== null && token !== undefined) {
      if (!sameToken(given)) throw new HttpError(401, "UNAUTHORIZED", "wrong token");
      res.writeHead(303, { location: "/", "set-cookie": `${COOKIE}=${encodeURIComponent(given)}; HttpOnly; SameSite=Strict; Path=/` });
      res.end();
      return;
    }
    if (!authorized(req)) throw new HttpError(401, "UNAUTHORIZED", "this web view needs its auth token: open it as /?token=TOKEN, or send Authorization: Bearer TOKEN");

    if (method === "POST") return handlePost(req, res, url.pathname);
    if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "METHOD_NOT_ALLOWED", `${method} is not allowed`);

    if (url.pathname === "/api/info") return json(res, 200, { mode: backend.mode, auth: token !== undefined });
    if (url.pathname === "/api/runs") {
      const q = listQuerySchema.safeParse(Object.fromEntries(url.searchParams));
      if (!q.success) throw new HttpError(400, "BAD_QUERY", formatIssues(toSchemaIssues(q.error.issues), "(query)"));
      const { before, workflow, status, parent, limit } = q.data;
      const cursor = before === undefined ? undefined : { at: Number(before.slice(0, before.indexOf("~"))), runId: before.slice(before.indexOf("~") + 1) };
      const page = await backend.listRuns({ limit, ...(workflow !== undefined ? { workflow } : {}), ...(status !== undefined ? { status } : {}), ...(parent !== undefined ? { parent } : {}), ...(cursor ? { before: cursor } : {}) });
      return json(res, 200, { runs: page.runs, ...(page.next ? { next: `${page.next.at}~${page.next.runId}` } : {}) });
    }
    if (url.pathname === "/api/workers") return json(res, 200, { workers: await backend.workers(), now: Date.now() });
    if (url.pathname === "/api/queues") {
      if (!backend.queues) throw new HttpError(404, "NOT_FOUND", "task limits are shown for a fleet (phaseflow ui --nats URL)");
      return json(res, 200, await backend.queues());
    }
    const run = /^\/api\/runs\/([A-Za-z0-9_-]{1,200})(\/events)?$/.exec(url.pathname);
    if (run) {
      const runId = run[1]!;
      const { record, waiting } = backend.inspectRun ? await backend.inspectRun(runId) : { record: await backend.getRun(runId), waiting: undefined };
      if (run[2] !== undefined) return streamRun(backend, runId, res, logger, flushMs !== undefined ? { flushMs } : {});
      const plan = record.workflow === "" ? undefined : await backend.planOf(record);
      return json(res, 200, { record, plan: plan ?? null, ...(waiting !== undefined ? { waiting } : {}) });
    }
    const asset = await assets.get(url.pathname);
    if (!asset) throw new HttpError(404, "NOT_FOUND", `nothing at ${url.pathname}`);
    res.writeHead(200, { "content-type": asset.type, "cache-control": "no-cache", "content-length": asset.body.length });
    res.end(method === "HEAD" ? undefined : asset.body);
  }

  async function handlePost(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    // A form on another site cannot send JSON, and a browser names the page's origin.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ""}`) throw new HttpError(403, "ORIGIN_REFUSED", `requests from ${origin} are refused`);
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) throw new HttpError(415, "JSON_REQUIRED", "send a JSON body (content-type: application/json)");
    const action = /^\/api\/runs\/([A-Za-z0-9_-]{1,200})\/(cancel|retry)$/.exec(path);
    if (!action) throw new HttpError(404, "NOT_FOUND", `nothing to POST at ${path}`);
    const runId = action[1]!;
    const body = await readJson(req);
    if (action[2] === "cancel") {
      const parsed = cancelBodySchema.safeParse(body);
      if (!parsed.success) throw new HttpError(400, "BAD_BODY", "cancel takes { reason?: string }");
      const status = await backend.cancel(runId, parsed.data.reason ?? "cancelled from the web view");
      logger.info({ runId }, "run cancelled from the web view");
      return json(res, 200, { runId, status });
    }
    const parsed = retryBodySchema.safeParse(body);
    if (!parsed.success) throw new HttpError(400, "BAD_BODY", "retry takes { from?: { state, task } }");
    await backend.retry(runId, parsed.data.from);
    logger.info({ runId, from: parsed.data.from }, "run retried from the web view");
    return json(res, 200, { runId, retried: true });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const { status, code, message } = describe(err);
      if (status >= 500) logger.warn({ err, url: req.url }, "web view request failed");
      if (res.headersSent) {
        res.end();
        return;
      }
      // A person opening the page gets a line of text; the page's scripts get JSON.
      if (!(req.url ?? "/").startsWith("/api/") && status === 401) {
        res.writeHead(401, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
        res.end(`${message}\n`);
        return;
      }
      json(res, status, { error: { code, message } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host === "0.0.0.0" || o.host === "::" ? "127.0.0.1" : o.host.includes(":") ? `[${o.host}]` : o.host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function describe(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof HttpError) return { status: err.status, code: err.code, message: err.message };
  if (err instanceof PhaseflowError) {
    const status = err instanceof RunNotFoundError ? 404 : err instanceof UsageError ? 409 : err instanceof ApiRequestError && err.isNoCoordinator() ? 503 : 502;
    return { status, code: err.code, message: err.message };
  }
  return { status: 500, code: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function hostOf(header: string | undefined): string {
  if (header === undefined) return "";
  return header.startsWith("[") ? header.slice(0, header.indexOf("]") + 1) : (header.split(":")[0] ?? "");
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, "BODY_TOO_LARGE", `the body is over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, "BAD_JSON", "the body is not JSON");
  }
}
