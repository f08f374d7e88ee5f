// Roles on a nats-server configured with `phaseflow nats-config`'s authorization block:
// a coordinator, a worker and a client, each connected as its role's user, run workflows
// to their end (start, follow, get, list, cancel) with no permission violation in the
// server's log; and each role's forbidden publishes and subscribes are refused by the
// server itself (a client cannot store a report or a decision nor take tasks, a worker
// cannot store a decision, start a run or touch the run records, ...).
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { inboxPrefixOf, natsAuthorizationBlock, type NatsRole } from "../../src/transport/nats/permissions.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { natsNames } from "../../src/transport/nats/names.js";
import { registry } from "../fixtures/faults/executors.js";
import { fifty, longWide, poison } from "../fixtures/faults/workflows.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

const PREFIX = "perm";
const names = natsNames(PREFIX);
const passwords: Record<NatsRole, string> = { coordinator: "coordinator-secret", worker: "worker-secret", client: "client-secret" };
const credentials = (role: NatsRole) => ({ user: role, pass: passwords[role] });
const encoder = new TextEncoder();

/** Run the CLI in-process with `env` set for the call (credentials from the environment). */
async function cliWith(env: Record<string, string>, argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let stdout = "";
  let stderr = "";
  try {
    const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false });
    return { code, stdout, stderr };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("nats permissions - one user per role", () => {
  let server: NatsServer;
  let coordinator: CoordinatorService;
  let worker: NatsWorker;
  let client: Client;

  beforeAll(async () => {
    server = await startNatsServer({ config: natsAuthorizationBlock(names, { passwords }) });
    // The coordinator first: only it may create the streams and buckets; a worker before it is told so.
    await expect(startNatsWorker({ nats: { servers: server.url, prefix: PREFIX, ...credentials("worker") }, registry })).rejects.toMatchObject({
      code: "NATS_JETSTREAM_UNAVAILABLE",
      message: expect.stringContaining("start a coordinator first"),
    });
    expected = new Set(server.log().split("\n").filter((l) => /violation/i.test(l)));
    expect([...expected].some((l) => l.includes('User "worker"') && l.includes("$JS.API.STREAM.CREATE"))).toBe(true);
    coordinator = await startCoordinatorService({ nats: { servers: server.url, prefix: PREFIX, ...credentials("coordinator") }, workflows: [fifty, longWide, poison], leaseMs: 3000 });
    worker = await startNatsWorker({ nats: { servers: server.url, prefix: PREFIX, ...credentials("worker") }, registry, concurrency: 16 });
    client = await createClient({ servers: server.url, prefix: PREFIX, ...credentials("client") });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop({ graceful: false });
    await coordinator?.close();
    await server?.stop();
  }, 60_000);

  /** Violations in the server's log, but the expected one of the worker started before any coordinator. */
  let expected = new Set<string>();
  const violations = (): string[] => server.log().split("\n").filter((l) => /violation/i.test(l) && !expected.has(l));

  it("nats permissions - the fleet runs, follows, lists and cancels with each role's credentials", async () => {
    const { runId } = await client.start("fifty", { ms: 5 });
    const seen: string[] = [];
    for await (const e of client.followLive(runId)) seen.push(e.type);
    expect(seen).toContain("run.succeeded");
    const record = await client.get(runId);
    expect(record.status).toBe("succeeded");
    expect(record.tasks.filter((t) => t.status === "succeeded")).toHaveLength(50);
    expect((await client.list()).map((r) => r.runId)).toContain(runId);
    // The command line as a client, its credentials from the environment.
    const env = { PHASEFLOW_NATS_USER: "client", PHASEFLOW_NATS_PASS: passwords.client };
    const status = await cliWith(env, ["status", runId, "--nats", server.url, "--prefix", PREFIX, "--json"]);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { status: string }).status).toBe("succeeded");
    const workers = await cliWith(env, ["workers", "--nats", server.url, "--prefix", PREFIX]);
    expect(workers.code).toBe(0);

    const long = await client.start("long-wide", { ms: 20_000 });
    await expect.poll(async () => (await client.get(long.runId)).tasks.some((t) => t.task === "long-0" && t.status !== "pending"), { timeout: 30_000 }).toBe(true);
    expect(await client.cancel(long.runId, "permissions test")).toBe("cancelled");
    expect((await client.waitForEnd(long.runId)).status).toBe("cancelled");

    // A failed run, retried by the client.
    const failed = await client.start("poison", {});
    expect((await client.waitForEnd(failed.runId)).status).toBe("failed");
    await client.retry(failed.runId);
    for await (const _e of client.follow(failed.runId, { afterRetry: true })) {
      // to the retried run's end
    }
    expect((await client.get(failed.runId)).status).toBe("failed");

    // A second worker with another ack wait updates the namespace's durable consumer.
    const second = await startNatsWorker({ nats: { servers: server.url, prefix: PREFIX, ackWaitMs: 9000, ...credentials("worker") }, registry, concurrency: 2 });
    await second.stop();

    // Pruning is the coordinator's work, with its credentials (what `phaseflow prune` does).
    const admin = await createClient({ servers: server.url, prefix: PREFIX, ...credentials("coordinator"), inboxPrefix: inboxPrefixOf(names, "coordinator") });
    try {
      expect((await admin.prune(-60_000)).removed).toEqual(expect.arrayContaining([runId, long.runId, failed.runId]));
    } finally {
      await admin.close();
    }
    expect(violations()).toEqual([]);
  }, 60_000);

  /** A raw connection as `role`, with its role's inbox, to try what the role may not do. */
  async function as(role: NatsRole): Promise<NatsConnection> {
    return connect({ servers: server.url, ...credentials(role), inboxPrefix: inboxPrefixOf(names, role) });
  }

  /** Resolves true when the server refuses `subject` for subscribing on `nc` (the subscription closes with a permissions error). */
  async function subscribeRefused(nc: NatsConnection, subject: string): Promise<boolean> {
    const sub = nc.subscribe(subject);
    const refused = (async () => {
      try {
        for await (const _m of sub) {
          // nothing arrives on a refused subscription
        }
        return false;
      } catch (err) {
        return err instanceof Error && /permissions violation/i.test(err.message);
      }
    })();
    await nc.flush();
    return Promise.race([refused, new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
  }

  /** Resolves true when a JetStream publish (a request) to `subject` is refused. */
  async function jsPublishRefused(nc: NatsConnection, subject: string): Promise<boolean> {
    try {
      await jetstream(nc, { timeout: 3000 }).publish(subject, encoder.encode("{}"));
      return false;
    } catch (err) {
      return err instanceof Error && /permissions violation/i.test(`${err.message} ${String((err as { cause?: unknown }).cause)}`);
    }
  }

  it("nats permissions - bad credentials, the wrong role, bad run ids and an oversized input each get a clear error and exit 2", async () => {
    const fleet = ["--nats", server.url, "--prefix", PREFIX];
    // A wrong password: the server is up, so "start a server" is not the fix.
    const wrong = await cliWith({ PHASEFLOW_NATS_USER: "client", PHASEFLOW_NATS_PASS: "not-the-password" }, ["status", ...fleet]);
    expect(wrong.code, wrong.stderr).toBe(2);
    expect(wrong.stderr).toContain('refused the connection (Authorization Violation) with user "client"');
    expect(wrong.stderr).not.toContain("nats-server -js");
    // A client command with the worker's credentials names the refused subject and the role it needs.
    const asWorker = { PHASEFLOW_NATS_USER: "worker", PHASEFLOW_NATS_PASS: passwords.worker };
    for (const argv of [["status"], ["status", "run_x"], ["cancel", "run_x"]]) {
      const r = await cliWith(asWorker, [...argv, ...fleet]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('NATS refused user "worker" permission to subscribe to "_INBOX_perm_client.');
      expect(r.stderr).toContain("needs the client role");
      expect(r.stderr).not.toContain("unexpected error");
    }
    // Run ids are subject tokens: checked before anything reaches the server.
    const client = { PHASEFLOW_NATS_USER: "client", PHASEFLOW_NATS_PASS: passwords.client };
    for (const command of ["status", "cancel", "follow", "retry"]) {
      const r = await cliWith(client, [command, "../../x", ...fleet]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain('run id "../../x" is not valid');
    }
    // None of them reached the server (the worker-role refusals above may still be logging: count only these).
    expect(violations().filter((l) => l.includes("../../x") || l.includes(".x."))).toEqual([]);
    // A 5 MB input travels through the payload store, with the client role's credentials;
    // one over the client's --max-payload is refused up front, naming the limit.
    const dir = mkdtempSync(join(tmpdir(), "pf-perm-"));
    const file = join(dir, "big.json");
    writeFileSync(file, JSON.stringify({ ms: 1, blob: "x".repeat(5 * 1024 * 1024) }));
    try {
      const accepted = await cliWith(client, ["run", "--workflow", "fifty", "--input", `@${file}`, "--detach", ...fleet]);
      expect(accepted.code, accepted.stderr).toBe(0);
      const big = await cliWith(client, ["run", "--workflow", "fifty", "--input", `@${file}`, "--detach", "--max-payload", "1MB", ...fleet]);
      expect(big.code, big.stderr).toBe(2);
      expect(big.stderr).toMatch(/the input of workflow "fifty" is \d+ bytes as JSON, over the limit maxPayload = \d+ bytes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("nats permissions - a connection without credentials is refused", async () => {
    await expect(connect({ servers: server.url })).rejects.toThrow(/authorization/i);
  });

  it("nats permissions - a client cannot store reports or decisions, dispatch or take tasks, nor touch run records", async () => {
    const nc = await as("client");
    try {
      expect(await jsPublishRefused(nc, names.subjects.reports("r1"))).toBe(true);
      expect(await jsPublishRefused(nc, names.subjects.decisions("r1"))).toBe(true);
      expect(await jsPublishRefused(nc, names.subjects.task("faults", "quick"))).toBe(true);
      expect(await jsPublishRefused(nc, `$KV.${names.buckets.runs}.run.r1`)).toBe(true);
      expect(await subscribeRefused(nc, names.subjects.tasks)).toBe(true);
      expect(await subscribeRefused(nc, `${inboxPrefixOf(names, "worker")}.>`)).toBe(true);
      expect(await subscribeRefused(nc, names.subjects.api("run.start"))).toBe(true);
      const jsm = await jetstreamManager(nc);
      await expect(jsm.consumers.add(names.streams.tasks, { durable_name: "thief", filter_subject: names.subjects.tasks })).rejects.toThrow(/permissions violation|timeout/i);
      await expect(jsm.streams.delete(names.streams.events)).rejects.toThrow(/permissions violation|timeout/i);
      // The server itself logged the refusals.
      expect(violations().some((l) => l.includes(names.subjects.reports("r1")))).toBe(true);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it("nats permissions - a worker cannot store a decision, call the API (start a run) nor touch run records", async () => {
    const nc = await as("worker");
    try {
      expect(await jsPublishRefused(nc, names.subjects.decisions("r1"))).toBe(true);
      expect(await jsPublishRefused(nc, `$KV.${names.buckets.runs}.run.r1`)).toBe(true);
      await expect(nc.request(names.subjects.api("run.start"), encoder.encode(JSON.stringify({ workflow: "fifty" })), { timeout: 3000 })).rejects.toThrow(/permissions violation/i);
      expect(await subscribeRefused(nc, names.subjects.api(">"))).toBe(true);
      expect(await subscribeRefused(nc, names.subjects.events)).toBe(true);
      const jsm = await jetstreamManager(nc);
      await expect(jsm.streams.purge(names.streams.events)).rejects.toThrow(/permissions violation|timeout/i);
    } finally {
      await nc.close();
    }
  }, 60_000);

  it("nats permissions - a coordinator cannot take tasks nor ack them", async () => {
    const nc = await as("coordinator");
    try {
      expect(await subscribeRefused(nc, names.subjects.tasks)).toBe(true);
      expect(await subscribeRefused(nc, `${inboxPrefixOf(names, "worker")}.>`)).toBe(true);
      await expect(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${names.streams.tasks}.${names.namespaceConsumer("faults")}`, encoder.encode("{}"), { timeout: 3000 })).rejects.toThrow(/permissions violation/i);
    } finally {
      await nc.close();
    }
  }, 60_000);
});
