// The coordinator API's own failures have codes of their own: a handler that breaks for a
// reason that is not the request's (a NATS call, a bug) answers COORDINATOR_ERROR, never an
// executor's code; a reply over the server's max_payload answers REPLY_TOO_LARGE at once
// instead of leaving the requester to time out. A request nobody serves is recognised by the
// NATS client's error class and comes back as the API port's NoRespondersError.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { serveEndpoint, type ApiCounters } from "../../src/fleet/api-server.js";
import { createClient } from "../../src/fleet/client.js";
import { ApiRequestError } from "../../src/errors/fleet.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { NoRespondersError, type ApiPort } from "../../src/transport/fleet-port.js";
import { natsApi } from "../../src/transport/nats/api.js";
import { LogLimiter } from "../../src/support/log-limiter.js";
import { natsNames } from "../../src/transport/nats/names.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

describe("fleet api - error codes", () => {
  let nc: NatsConnection;
  let api: ApiPort;
  const counters: ApiCounters = { requests: 0, malformed: 0, errors: 0 };
  beforeAll(async () => {
    nc = await connect({ servers: inject("natsUrl") });
    api = natsApi(nc, natsNames("apierr"));
    const logger = createSilentLogger();
    const endpoint = { logger, counters, limiter: new LogLimiter(logger) };
    serveEndpoint(api, "broken", undefined, z.object({}), () => Promise.reject(new Error("socket hang up")), endpoint);
    serveEndpoint(api, "huge", "coordinators", z.object({}), () => Promise.resolve({ ok: true, blob: "x".repeat(2 * 1024 * 1024) }), endpoint);
    await api.flush();
  });
  afterAll(() => nc?.close());

  const ask = async (op: string): Promise<{ ok: boolean; error?: { code: string; message: string } }> =>
    JSON.parse(decoder.decode(await api.request(op, encoder.encode("{}"), { timeoutMs: 5000 }))) as { ok: boolean; error?: { code: string; message: string } };

  it("fleet api - a coordinator-side failure is COORDINATOR_ERROR with its cause, not EXECUTOR_ERROR", async () => {
    const reply = await ask("broken");
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe("COORDINATOR_ERROR");
    expect(reply.error?.message).toContain("socket hang up");
  });

  it("fleet api - a reply over max_payload is REPLY_TOO_LARGE, answered at once", async () => {
    const reply = await ask("huge");
    expect(reply.ok).toBe(false);
    expect(reply.error?.code).toBe("REPLY_TOO_LARGE");
  });

  it("fleet api - a request nobody serves fails with the port's NoRespondersError (told by the NATS client's error class)", async () => {
    const err = await api.request("nobody.home", encoder.encode("{}"), { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRespondersError);
    expect((err as NoRespondersError).subject).toBe("apierr.api.nobody.home");
  });

  it("fleet api - a client whose requests nobody answers says NO_COORDINATOR (matched by class, not by text)", async () => {
    const client = await createClient({ servers: inject("natsUrl"), prefix: "nocoord" });
    try {
      const err = await client.start("etl", {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiRequestError);
      expect((err as ApiRequestError).code).toBe("NO_COORDINATOR");
      expect((err as ApiRequestError).cause).toBeInstanceOf(NoRespondersError);
    } finally {
      await client.close();
    }
  });
});
