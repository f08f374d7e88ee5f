/**
 * The run page's live feed: server-sent events of one run. The server follows the
 * run's history and live signals once per open page, folds them with the record
 * fold every reader uses (run-view.ts), and pushes what changed, at most every
 * `flushMs` (a phase of a thousand tasks is a handful of pushes, not a thousand).
 * The page never polls.
 */
import type { ServerResponse } from "node:http";
import type { Logger } from "../registry/types.js";
import type { UiBackend } from "./backend.js";
import { createRunViewFold } from "./run-view.js";

export interface EventStreamOptions {
  /** Most often a change is pushed. Default 100 ms. */
  flushMs?: number;
  /** A comment line keeps proxies from closing an idle stream. Default 15000 ms. */
  keepAliveMs?: number;
}

/**
 * Stream run `runId` to `res` until the client goes away.
 * @example await streamRun(backend, runId, res, logger);
 */
export async function streamRun(backend: UiBackend, runId: string, res: ServerResponse, logger: Logger, options: EventStreamOptions = {}): Promise<void> {
  const flushMs = options.flushMs ?? 100;
  const view = createRunViewFold(runId);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  res.write("retry: 2000\n\n");

  const flush = (): void => {
    timer = undefined;
    if (closed) return;
    const patch = view.takePatch();
    if (patch) res.write(`event: patch\ndata: ${JSON.stringify(patch)}\n\n`);
  };
  const schedule = (): void => {
    timer ??= setTimeout(flush, flushMs);
  };
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), options.keepAliveMs ?? 15_000);
  keepAlive.unref();

  let sub: { stop(): Promise<void> } | undefined;
  const stop = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(keepAlive);
    if (timer) clearTimeout(timer);
    void sub?.stop().catch((err: unknown) => logger.debug({ err, runId }, "could not stop following a run for the web view"));
  };
  res.on("close", stop);
  try {
    sub = await backend.follow(runId, (update) => {
      view.apply(update);
      schedule();
    });
  } catch (err) {
    logger.warn({ err, runId }, "the web view could not follow a run");
    res.write(`event: failure\ndata: ${JSON.stringify({ message: err instanceof Error ? err.message : String(err) })}\n\n`);
    stop();
    res.end();
    return;
  }
  if (closed) {
    await sub.stop();
    return;
  }
  // The whole run so far, even before its first event arrives (a run with no history yet).
  schedule();
}
