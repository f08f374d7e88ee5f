// Forged acks (issue 20, point 5). On a server configured by `phaseflow nats-config
// --worker-namespaces faults`, the worker user may ack only the tasks of its own
// namespace's consumer: an ack aimed at another namespace's consumer is refused by the
// server. Within its namespace a worker-role user can still ack away a task message it
// was never delivered (nats-server 2.9 removes it from the work queue): the coordinator
// notices the attempt's message gone with no start and no report and dispatches it again
// within seconds, counted (`vanished`) and logged, instead of waiting for the watchdog.
import { Writable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { inboxPrefixOf, natsAuthorizationBlock, type NatsRole } from "../../src/transport/nats/permissions.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createLogger } from "../../src/support/logger.js";
import { natsNames } from "../../src/transport/nats/names.js";
import { registry } from "../fixtures/faults/executors.js";
import { longWide } from "../fixtures/faults/workflows.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

const PREFIX = "forge";
const names = natsNames(PREFIX);
const passwords: Record<NatsRole, string> = { coordinator: "coordinator-secret", worker: "worker-secret", client: "client-secret" };
const credentials = (role: NatsRole) => ({ user: role, pass: passwords[role] });

describe("forged acks", () => {
  let server: NatsServer;
  let coordinator: CoordinatorService;
  let worker: NatsWorker;
  let client: Client;
  const warnings: string[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ config: natsAuthorizationBlock(names, { passwords, workerNamespaces: ["faults"] }) });
    const logger = createLogger({
      level: "warn",
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          warnings.push(String(chunk));
          done();
        },
      }),
    });
    coordinator = await startCoordinatorService({ nats: { servers: server.url, prefix: PREFIX, ...credentials("coordinator") }, workflows: [longWide], leaseMs: 3000, vanishedCheckMs: 300, logger });
    // One slot: while it runs long-0, the other long tasks wait in the stream.
    worker = await startNatsWorker({ nats: { servers: server.url, prefix: PREFIX, ...credentials("worker") }, registry, concurrency: 1 });
    client = await createClient({ servers: server.url, prefix: PREFIX, ...credentials("client") });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop({ graceful: false });
    await coordinator?.close();
    await server?.stop();
  }, 60_000);

  it("forged acks - a worker user limited to its namespaces cannot ack another namespace's tasks", async () => {
    const nc: NatsConnection = await connect({ servers: server.url, ...credentials("worker"), inboxPrefix: inboxPrefixOf(names, "worker") });
    try {
      const other = `$JS.ACK.${names.streams.tasks}.${names.namespaceConsumer("billing")}.1.1.1.0.0`;
      nc.publish(other, new TextEncoder().encode("+ACK"));
      await nc.flush();
      await expect.poll(() => server.log().split("\n").some((l) => /violation/i.test(l) && l.includes(other)), { timeout: 10_000 }).toBe(true);
    } finally {
      await nc.close();
    }
  }, 30_000);

  it("forged acks - a task message acked away before any worker took it is dispatched again within seconds, counted and logged", async () => {
    const { runId } = await client.start("long-wide", { ms: 60_000 });
    // long-0 runs on the single slot; long-1..3 wait in the stream.
    await expect.poll(async () => (await client.get(runId)).tasks.filter((t) => t.task.startsWith("long-") && t.status === "dispatched").length, { timeout: 20_000 }).toBe(3);
    const nc = await connect({ servers: server.url, ...credentials("worker"), inboxPrefix: inboxPrefixOf(names, "worker") });
    try {
      const jsm = await jetstreamManager(nc);
      const { last_seq: seq } = (await jsm.streams.info(names.streams.tasks)).state;
      // A forged ack of the newest task message, which no worker was delivered.
      nc.publish(`$JS.ACK.${names.streams.tasks}.${names.namespaceConsumer("faults")}.1.${seq}.${seq}.0.0`, new TextEncoder().encode("+ACK"));
      await nc.flush();
      await expect.poll(async () => (await jsm.streams.info(names.streams.tasks)).state.messages, { timeout: 10_000 }).toBe(3);
    } finally {
      await nc.close();
    }
    // Dispatched again (attempt 2, ATTEMPT_LOST), long before the 10-minute watchdog.
    await expect.poll(() => coordinator.stats().vanished, { timeout: 20_000 }).toBe(1);
    const record = await client.get(runId);
    const redispatched = record.tasks.filter((t) => t.task.startsWith("long-") && t.attempts === 2);
    expect(redispatched).toHaveLength(1);
    expect(redispatched[0]!.status).toBe("dispatched");
    expect(warnings.some((l) => l.includes("suspicious: a task message is not in the tasks stream") && l.includes(runId))).toBe(true);
    expect(await client.cancel(runId, "forged acks test")).toBe("cancelled");
  }, 60_000);
});
