// The coordinator API's own failures have codes of their own: a handler that breaks for a
// reason that is not the request's (a NATS call, a bug) answers COORDINATOR_ERROR, never an
// executor's code; a reply over the server's max_payload answers REPLY_TOO_LARGE at once
// instead of leaving the requester to time out.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { serveEndpoint, type ApiCounters } from "../../src/fleet/api-server.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { LogLimiter } from "../../src/transport/nats/log-limiter.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

describe("fleet api - error codes", () => {
  let nc: NatsConnection;
  const counters: ApiCounters = { requests: 0, malformed: 0, errors: 0 };
  beforeAll(async () => {
    nc = await connect({ servers: inject("natsUrl") });
    const logger = createSilentLogger();
    const endpoint = { logger, counters, limiter: new LogLimiter(logger) };
    serveEndpoint(nc, "apierr.broken", "", z.object({}), () => Promise.reject(new Error("socket hang up")), endpoint);
    serveEndpoint(nc, "apierr.huge", "", z.object({}), () => Promise.resolve({ ok: true, blob: "x".repeat(2 * 1024 * 1024) }), endpoint);
    await nc.flush();
  });
  afterAll(() => nc?.close());

  const ask = async (subject: string): Promise<{ ok: boolean; error?: { code: string; message: string } }> =>
    JSON.parse(decoder.decode((await nc.request(subject, encoder.encode("{}"), { timeout: 5000 })).data)) as { ok: boolean; error?: { code: string; message: string } };

  it("fleet api - a coordinator-side failure is COORDINATOR_ERROR with its cause, not EXECUTOR_ERROR", async () => {
    const reply = await ask("apierr.broken");
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe("COORDINATOR_ERROR");
    expect(reply.error?.message).toContain("socket hang up");
  });

  it("fleet api - a reply over max_payload is REPLY_TOO_LARGE, answered at once", async () => {
    const reply = await ask("apierr.huge");
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe("REPLY_TOO_LARGE");
  });
});
