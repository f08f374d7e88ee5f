// The fault campaign's abuse scenarios (campaign.ts runs them):
// - forge: roles on the server; a worker-role user forges what it may publish or tries
//   what it may not, a client-role user storms and sends hostile starts, while runs go on.
// - web:   the web view with an auth token over a fleet, sent hostile requests.
// A forgery "lands" when it changes what a run does (checked by every run still ending
// with one accepted success per task and one writer per epoch) or a request that should be
// refused is served. Each is counted; refusals are expected and counted too.
import { request } from "node:http";
import { Writable } from "node:stream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createClient, type Client } from "../src/fleet/client.js";
import { createLogger } from "../src/support/logger.js";
import { createFleetBackend } from "../src/ui/fleet-backend.js";
import { startUiServer } from "../src/ui/server.js";
import { inboxPrefixOf, natsAuthorizationBlock, type NatsRole } from "../src/transport/nats/permissions.js";
import { natsNames } from "../src/transport/nats/names.js";
import { Fleet, newExecutionLog } from "../tests/faults/fleet.js";
import type { NatsServer } from "../tests/support/nats-server.js";
import { checkRuns, retrying, sleep, type Result } from "./campaign-checks.js";

export const FORGE_PREFIX = "cforge";
const PASSWORDS: Record<NatsRole, string> = { coordinator: "campaign-coordinator-pw", worker: "campaign-worker-pw", client: "campaign-client-pw" };
const as = (role: NatsRole): { user: string; pass: string } => ({ user: role, pass: PASSWORDS[role] });
const roleFlags = (role: NatsRole): string[] => ["--user", role, "--pass", PASSWORDS[role]];
const enc = new TextEncoder();

/** The server config of the forge scenario: the three roles, workers limited to the fault workflows' namespace. */
export function forgeServerConfig(prefix: string): string {
  return natsAuthorizationBlock(natsNames(prefix), { passwords: PASSWORDS, workerNamespaces: ["faults"] });
}

/** Whether a promise settles with a refusal (any rejection) within `ms`: a refusal the server or coordinator gave. */
async function refused(p: Promise<unknown>, ms = 10_000): Promise<"refused" | "accepted" | "silent"> {
  return Promise.race([p.then(() => "accepted" as const, () => "refused" as const), sleep(ms).then(() => "silent" as const)]);
}

export async function forge(server: NatsServer, runs: number, random: () => number): Promise<Result> {
  const started = Date.now();
  const names = natsNames(FORGE_PREFIX);
  const lease = ["--lease-ms", "2000"];
  const fleet = new Fleet(server.url, FORGE_PREFIX, newExecutionLog());
  await fleet.start({
    coordinators: [
      [...lease, "--id", "c-a", ...roleFlags("coordinator")],
      [...lease, "--id", "c-b", ...roleFlags("coordinator")],
    ],
    clientAuth: as("client"),
  });
  // Only coordinators may create the streams: workers come once they are up.
  for (const id of ["w1", "w2"]) await fleet.worker(id, ["--concurrency", "6", ...roleFlags("worker")]);
  const attacker: NatsConnection = await connect({ servers: server.url, ...as("worker"), inboxPrefix: inboxPrefixOf(names, "worker") });
  const hostile: Client = await createClient({ servers: server.url, prefix: FORGE_PREFIX, requestTimeoutMs: 30_000, ...as("client") });
  const js = jetstream(attacker);
  const jsm = await jetstreamManager(attacker);
  const counts = { junkReports: 0, forgedReports: 0, forgedAcks: 0, decisionsTried: 0, decisionsStored: 0, kvTried: 0, kvStored: 0, storms: 0, stormAnswered: 0, stormSilent: 0, hostileStarts: 0, hostileRefused: 0, slowestGetMs: 0 };
  const problems: string[] = [];
  const runIds: string[] = [];
  let attacking = true;
  const pick = (): string | undefined => runIds[Math.floor(random() * runIds.length)];
  const attacks = (async () => {
    while (attacking) {
      await sleep(200 + random() * 600);
      const runId = pick();
      if (runId === undefined) continue;
      const kind = Math.floor(random() * 6);
      try {
        if (kind === 0) {
          // Junk on the run's report subject (the worker role may publish reports).
          const junk = [new Uint8Array([0xff, 0x00, 0x7b]), enc.encode("{"), enc.encode("{}"), enc.encode(JSON.stringify({ v: 99, kind: "report" })), enc.encode("x".repeat(4096))][Math.floor(random() * 5)]!;
          await js.publish(names.subjects.reports(runId), junk);
          counts.junkReports++;
        } else if (kind === 1) {
          // A well-formed report of a success with a token nobody was given.
          const record = await fleet.client.get(runId).catch(() => undefined);
          const task = record?.tasks.find((t) => t.status === "dispatched" || t.status === "running");
          if (task?.dispatchId === undefined) continue;
          const report = { v: 1, kind: "report", runId, dispatchId: task.dispatchId, token: "forged-token-0000", worker: "intruder", status: "succeeded", output: { forged: true }, startedAt: Date.now(), finishedAt: Date.now() };
          await js.publish(names.subjects.reports(runId), enc.encode(JSON.stringify(report)));
          counts.forgedReports++;
        } else if (kind === 2) {
          // An ack of the newest task message, which this connection was never delivered.
          const { last_seq: seq } = (await jsm.streams.info(names.streams.tasks)).state;
          attacker.publish(`$JS.ACK.${names.streams.tasks}.${names.namespaceConsumer("faults")}.1.${seq}.${seq}.0.0`, enc.encode("+ACK"));
          await attacker.flush();
          counts.forgedAcks++;
        } else if (kind === 3) {
          // A decision: only coordinators may write them.
          counts.decisionsTried++;
          if ((await refused(js.publish(names.subjects.decisions(runId), enc.encode(JSON.stringify({ v: 1, kind: "decision", runId, by: "intruder", epoch: 999, through: 0, at: Date.now(), events: [{ type: "run.cancelled", reason: "forged" }] }))))) === "accepted") counts.decisionsStored++;
        } else if (kind === 4) {
          // The run store: only coordinators write it.
          counts.kvTried++;
          if ((await refused(js.publish(`$KV.${names.buckets.runs}.${runId}`, enc.encode(JSON.stringify({ status: "cancelled" }))))) === "accepted") counts.kvStored++;
        } else {
          // A client: a storm of retries (refused: the run is not failed) and hostile starts.
          counts.storms++;
          const replies = await Promise.all(Array.from({ length: 30 }, () => refused(hostile.retry(runId), 30_000)));
          counts.stormAnswered += replies.filter((r) => r !== "silent").length;
          counts.stormSilent += replies.filter((r) => r === "silent").length;
          for (const bad of ["../../x", "a.b", "*", "x".repeat(600)]) {
            counts.hostileStarts++;
            if ((await refused(hostile.start("single", { ms: 10 }, { runId: bad }))) === "refused") counts.hostileRefused++;
            else problems.push(`a start with run id ${JSON.stringify(bad.slice(0, 20))} was not refused`);
          }
        }
      } catch (err) {
        problems.push(`attack ${kind} on ${runId} threw in the attacker itself: ${String(err)}`);
      }
      // The coordinators keep serving while this goes on.
      const t0 = Date.now();
      await retrying(Date.now() + 60_000, () => fleet.client.get(runId)).catch((err: unknown) => problems.push(`get ${runId} failed during the attacks: ${String(err)}`));
      counts.slowestGetMs = Math.max(counts.slowestGetMs, Date.now() - t0);
    }
  })();
  try {
    for (let i = 0; i < runs; i++) {
      const { runId } = await fleet.client.start(i % 2 === 0 ? "long-wide" : "long-map", i % 2 === 0 ? { ms: 1500 } : { ms: 600, n: 4 }, { key: `forge-${i}` });
      runIds.push(runId);
      await sleep(700);
    }
    // The attacks go on until the last runs are well under way.
    await sleep(5_000);
    attacking = false;
    await attacks;
    const res = await checkRuns(fleet, runIds, Date.now() + 300_000, true);
    if (counts.decisionsStored > 0) problems.push(`${counts.decisionsStored} forged decisions were stored`);
    if (counts.kvStored > 0) problems.push(`${counts.kvStored} forged run-store writes were stored`);
    if (counts.stormSilent > 0) problems.push(`${counts.stormSilent} retries of the storms got no answer within 30 s`);
    if (counts.slowestGetMs > 30_000) problems.push(`a get took ${counts.slowestGetMs} ms during the attacks`);
    console.log(`forge: ${JSON.stringify(counts)}`);
    const faults = counts.junkReports + counts.forgedReports + counts.forgedAcks + counts.decisionsTried + counts.kvTried + counts.storms * 30 + counts.hostileStarts;
    return { scenario: "forge", runs, succeeded: res.succeeded, faults, problems: [...problems, ...res.problems], seconds: (Date.now() - started) / 1000 };
  } finally {
    attacking = false;
    await attacks.catch(() => undefined);
    await hostile.close().catch(() => undefined);
    await attacker.close().catch(() => undefined);
    await fleet.close();
  }
}

interface HostileRequest {
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Statuses that count as refused. */
  refusedWith: readonly number[];
}

/** Send one request as given (no path normalising, unlike fetch) and return its status and body. */
function send(port: number, r: HostileRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // A connection of its own: a refused big body closes its socket, which a kept-alive pool would reuse.
    const req = request({ host: "127.0.0.1", port, method: r.method, path: r.path, headers: r.headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c.length + body.length > 65_536 ? "" : c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    if (r.body !== undefined) req.write(r.body);
    req.end();
  });
}

export async function web(server: NatsServer, runs: number, random: () => number): Promise<Result> {
  const started = Date.now();
  const fleet = new Fleet(server.url, "cweb", newExecutionLog());
  await fleet.start({ coordinators: [["--lease-ms", "2000"]], workers: [{ id: "w1", flags: ["--concurrency", "8"] }] });
  const token = "campaign-web-token-0123456789";
  const quiet = createLogger({ level: "error", destination: new Writable({ write: (_c, _e, done) => done() }) });
  const ui = await startUiServer({ backend: createFleetBackend(fleet.client, quiet), host: "127.0.0.1", port: 0, authToken: token, logger: quiet });
  const port = ui.port;
  const host = `127.0.0.1:${port}`;
  const bearer = { authorization: `Bearer ${token}`, host };
  const problems: string[] = [];
  let sent = 0;
  let refusedCount = 0;
  try {
    const runIds: string[] = [];
    for (let i = 0; i < runs; i++) runIds.push((await fleet.client.start("long-wide", { ms: 1500 })).runId);
    for (let round = 0; round < 20; round++) {
      const runId = runIds[Math.floor(random() * runIds.length)]!;
      const json = { ...bearer, "content-type": "application/json" };
      const hostile: HostileRequest[] = [
        { what: "no token", method: "GET", path: "/api/runs", headers: { host }, refusedWith: [401] },
        { what: "wrong bearer", method: "GET", path: `/api/runs/${runId}`, headers: { host, authorization: "Bearer wrong-token-wrong-token" }, refusedWith: [401] },
        { what: "wrong cookie", method: "GET", path: "/api/runs", headers: { host, cookie: "pf_token=guess" }, refusedWith: [401] },
        { what: "wrong token in the address", method: "GET", path: "/?token=guess", headers: { host }, refusedWith: [401] },
        { what: "cancel without a token", method: "POST", path: `/api/runs/${runId}/cancel`, headers: { host, "content-type": "application/json" }, body: "{}", refusedWith: [401] },
        { what: "cross-origin cancel", method: "POST", path: `/api/runs/${runId}/cancel`, headers: { ...json, origin: "http://evil.example" }, body: "{}", refusedWith: [403] },
        { what: "form-encoded cancel", method: "POST", path: `/api/runs/${runId}/cancel`, headers: { ...bearer, "content-type": "application/x-www-form-urlencoded" }, body: "a=1", refusedWith: [415] },
        { what: "oversized body", method: "POST", path: `/api/runs/${runId}/retry`, headers: json, body: `{"pad":"${"x".repeat(2_000_000)}"}`, refusedWith: [413] },
        { what: "DELETE", method: "DELETE", path: `/api/runs/${runId}`, headers: bearer, refusedWith: [405] },
        { what: "PUT", method: "PUT", path: "/api/runs", headers: json, body: "{}", refusedWith: [405] },
        ...["/../package.json", "/%2e%2e/package.json", "/vendor/../../package.json", "/vendor/%2e%2e%2f%2e%2e%2fpackage.json", "//etc/passwd", "/vendor/..%5c..%5cpackage.json", "/ui/app.js", "/api/runs/..%2f..%2fpackage.json"].map(
          (path): HostileRequest => ({ what: `path ${path}`, method: "GET", path, headers: bearer, refusedWith: [400, 404] }),
        ),
      ];
      for (const r of hostile) {
        sent++;
        const res = await send(port, r).catch((err: unknown) => ({ status: -1, body: String(err) }));
        // A connection closed on a huge body is a refusal too.
        if (r.refusedWith.includes(res.status) || (res.status === -1 && r.what === "oversized body")) refusedCount++;
        else problems.push(`${r.what}: answered ${res.status} (${res.body.slice(0, 120)})`);
        if (res.body.includes('"name": "phaseflow"') || res.body.includes("root:x:0")) problems.push(`${r.what}: leaked a file`);
      }
      // The view itself still works with its token.
      const ok = await send(port, { what: "own request", method: "GET", path: "/api/runs", headers: bearer, refusedWith: [] });
      if (ok.status !== 200) problems.push(`the web view refused its own token: ${ok.status}`);
    }
    // None of the cancels reached a run: all of them succeed.
    const res = await checkRuns(fleet, runIds, Date.now() + 300_000, false);
    console.log(`web: ${refusedCount}/${sent} hostile requests refused`);
    return { scenario: "web", runs, succeeded: res.succeeded, faults: sent, problems: [...problems, ...res.problems], seconds: (Date.now() - started) / 1000 };
  } finally {
    await ui.close();
    await fleet.close();
  }
}
