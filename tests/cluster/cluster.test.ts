// phaseflow on a 3-node nats-server cluster with 3 replicas: the coordinator and the
// workers on different nodes; the node leading PF_EVENTS killed with SIGKILL mid-run,
// and the run still succeeds with one accepted result per task and the embedded run's
// output; the node restarted rejoins and every node holds the same messages again.
// Also: replica counts are checked and changed with `phaseflow nats-setup`.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import { createEngine } from "../../src/embedded/engine.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { createNatsTransport } from "../../src/transport/nats/transport.js";
import { natsNames } from "../../src/transport/nats/names.js";
import { currentOf } from "../../src/transport/nats/setup.js";
import { fifty } from "../fixtures/faults/workflows.js";
import { registry } from "../fixtures/faults/executors.js";
import { makeReport } from "../contract/contract-support.js";
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.js";
import { spawnPhaseflow, startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";
import { EXECUTORS, WORKFLOWS, expectOneSucceededPerTask, newExecutionLog, waitForExecution } from "../faults/support.js";

async function cli(args: string[]): Promise<{ code: number | null; output: string }> {
  const p = spawnPhaseflow(args);
  const { code } = await p.exited;
  return { code, output: p.output() };
}

describe("faults - a 3-node NATS cluster with 3 replicas", () => {
  let cluster: NatsCluster;

  beforeAll(async () => {
    cluster = await startNatsCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  it("cluster - a replica count other than the asked one is reported, and nats-setup changes it in place", async () => {
    const servers = cluster.urls.split(",");
    const prefix = "fcsetup";
    const names = natsNames(prefix);
    const r1 = await createNatsTransport({ servers, prefix, replicas: 1 });
    await r1.close();
    await expect(createNatsTransport({ servers, prefix, replicas: 3 })).rejects.toMatchObject({
      code: "NATS_INFRASTRUCTURE_MISMATCH",
      field: "replicas",
      found: "1",
      expected: "3",
      message: expect.stringContaining("phaseflow nats-setup --replicas 3 --nats URL --prefix fcsetup"),
    });
    const setup = await cli(["nats-setup", "--nats", cluster.urls, "--prefix", prefix, "--replicas", "3"]);
    expect(setup.output).toContain(`stream "${names.streams.events}": replicas 1 -> 3`);
    expect(setup.output).toContain(`KV bucket "${names.buckets.runs}": replicas 1 -> 3`);
    expect(setup.code, setup.output).toBe(0);
    const r3 = await createNatsTransport({ servers, prefix, replicas: 3 });
    try {
      for (const stream of [names.streams.tasks, names.streams.events, `KV_${names.buckets.runs}`, `KV_${names.buckets.workers}`]) {
        const info = await r3.jsm.streams.info(stream);
        expect(info.config.num_replicas, stream).toBe(3);
        expect(currentOf(info), stream).toHaveLength(3);
      }
    } finally {
      await r3.close();
    }
  }, 60_000);

  it("cluster - workers started before a --replicas 3 coordinator create 3 replicas on a 3-node cluster, so start order does not matter", async () => {
    const prefix = "fcorder";
    const names = natsNames(prefix);
    const processes: PhaseflowProcess[] = [];
    try {
      // The workers come up first and create the streams and buckets (no --replicas: the default).
      processes.push(await startWorkerProcess(cluster.nodes[1]!.url, prefix, [EXECUTORS], ["--id", "w1"]));
      processes.push(await startWorkerProcess(cluster.nodes[2]!.url, prefix, [EXECUTORS], ["--id", "w2"]));
      const t = await createNatsTransport({ servers: cluster.nodes[0]!.url, prefix, replicas: 3 }).catch((err: unknown) => err);
      expect(t, String(t)).not.toBeInstanceOf(Error);
      const transport = t as Awaited<ReturnType<typeof createNatsTransport>>;
      try {
        for (const stream of [names.streams.tasks, names.streams.events, `KV_${names.buckets.runs}`, `KV_${names.buckets.workers}`]) {
          expect((await transport.jsm.streams.info(stream)).config.num_replicas, stream).toBe(3);
        }
      } finally {
        await transport.close();
      }
      // And the coordinator that insists on 3 starts on them.
      processes.push(await startCoordinatorProcess(cluster.nodes[0]!.url, prefix, [WORKFLOWS], ["--id", "c1", "--replicas", "3"]));
    } finally {
      await stopAll(processes);
    }
  }, 120_000);

  it("cluster - replicas > 1 on a single server are refused with the reason; the default there is 1", async () => {
    const single = inject("natsUrl");
    await expect(createNatsTransport({ servers: single, prefix: "fcsingle", replicas: 3 })).rejects.toMatchObject({ code: "NATS_REPLICAS_UNAVAILABLE", replicas: 3 });
    const t1 = await createNatsTransport({ servers: single, prefix: "fcsingle" });
    try {
      for (const stream of [natsNames("fcsingle").streams.tasks, `KV_${natsNames("fcsingle").buckets.runs}`]) expect((await t1.jsm.streams.info(stream)).config.num_replicas, stream).toBe(1);
    } finally {
      await t1.close();
    }
    // nats-server 2.9 would accept this update and keep one copy; nats-setup refuses it.
    const setup = await cli(["nats-setup", "--nats", single, "--prefix", "fcsingle", "--replicas", "3"]);
    expect(setup.code).not.toBe(0);
    expect(setup.output).toContain("is not part of a cluster");
  }, 60_000);

  it("cluster - a report follow whose consumer's node is killed reopens on a live node and delivers every report once, in order", async () => {
    const servers = cluster.urls.split(",");
    const prefix = "fcfollow";
    const names = natsNames(prefix);
    const t = await createNatsTransport({ servers, prefix, replicas: 3 });
    const runId = "run_follow1";
    const got: number[] = [];
    try {
      await t.publishReport(makeReport(runId, 1));
      const sub = await t.subscribeReports(runId, 0, (_seq, r) => got.push(r.type === "attempt.succeeded" ? Number(r.task.slice(1)) : -1));
      await until(() => got.length === 1, "the first report");
      // The follow's one-replica consumer lives on one node: kill that one.
      let holder: string | undefined;
      for await (const ci of t.jsm.consumers.list(names.streams.events)) {
        if (ci.config.filter_subject === names.subjects.reports(runId)) holder = ci.cluster?.leader;
      }
      expect(holder).toBeDefined();
      await cluster.crash(holder!);
      for (let n = 2; n <= 4; n++) await t.publishReport(makeReport(runId, n));
      await until(() => got.length >= 4, "reports 2-4 after the consumer's node was killed");
      expect(got).toEqual([1, 2, 3, 4]);
      await sub.stop();
      // Back to three nodes for the tests after this one.
      await cluster.restart(holder!);
      await untilCurrent(t.jsm, [names.streams.tasks, names.streams.events, `KV_${names.buckets.runs}`, `KV_${names.buckets.workers}`], holder!);
    } finally {
      await t.close();
    }
  }, 120_000);

  describe("a fleet run while the PF_EVENTS leader is killed", () => {
    const prefix = "fcluster";
    const names = natsNames(prefix);
    const log = newExecutionLog();
    const env = { PHASEFLOW_FAULTS_LOG: log };
    const processes: PhaseflowProcess[] = [];
    let client: Client;
    let leader: string;

    beforeAll(async () => {
      const setup = await cli(["nats-setup", "--nats", cluster.urls, "--prefix", prefix, "--replicas", "3"]);
      expect(setup.code, setup.output).toBe(0);
      client = await createClient({ servers: cluster.urls.split(","), prefix, requestTimeoutMs: 20_000 });
      const info = await client.transport.jsm.streams.info(names.streams.events);
      leader = info.cluster!.leader!;
      const others = cluster.nodes.filter((n) => n.name !== leader);
      // The coordinator on the leader's node (its only URL: it fails over to the servers the
      // cluster advertises), each worker on the other nodes (a list of URLs, tried in any order).
      processes.push(await startCoordinatorProcess(cluster.node(leader).url, prefix, [WORKFLOWS], ["--id", "c1", "--replicas", "3", "--lease-ms", "2000"], env));
      processes.push(await startWorkerProcess(`${others[0]!.url},${others[1]!.url}`, prefix, [EXECUTORS], ["--id", "w1", "--ack-wait", "2000"], env));
      processes.push(await startWorkerProcess(`${others[1]!.url},${others[0]!.url}`, prefix, [EXECUTORS], ["--id", "w2", "--ack-wait", "2000"], env));
    }, 90_000);
    afterAll(async () => {
      await client?.close();
      await stopAll(processes);
    }, 60_000);

    it("cluster - the run succeeds with one accepted result per task and the embedded output; the restarted node holds the same messages", async () => {
      const onLeader = await cluster.connectionNames(leader);
      expect(onLeader.some((n) => n.startsWith("phaseflow-coordinator c1"))).toBe(true);
      expect(onLeader.some((n) => n.startsWith("phaseflow-worker"))).toBe(false);

      const input = { ms: 150 };
      const { runId } = await client.start("fifty", input);
      await waitForExecution(log, runId, (e) => e.taskId.includes("mid-"));
      await cluster.crash(leader);

      const record = await untilEnded(client, runId, processes);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      const events = historyEvents((await settled(() => client.transport.readHistory(runId))).messages);
      expectOneSucceededPerTask(events, record);
      const engine = createEngine({ registry });
      try {
        const local = await (await engine.run(fifty, input)).result();
        expect(record.output).toEqual(local.output);
      } finally {
        await engine.close();
      }
      const newLeader = (await settled(() => client.transport.jsm.streams.info(names.streams.events))).cluster?.leader;
      expect(newLeader).not.toBe(leader);

      await cluster.restart(leader);
      const streams = [names.streams.tasks, names.streams.events, `KV_${names.buckets.runs}`, `KV_${names.buckets.workers}`];
      const nc = client.transport.connection;
      const jsm = await jetstreamManager(nc);
      await untilCurrent(jsm, streams, leader);
      // The workers bucket keeps changing (heartbeats): compare the streams that are at rest now.
      const atRest = [names.streams.tasks, names.streams.events, `KV_${names.buckets.runs}`];
      let views: Map<string, unknown>[] = [];
      for (let i = 0; i < 50; i++) {
        views = await Promise.all(cluster.nodes.map(async (n) => pick(await cluster.localStreams(n.name), atRest)));
        if (views.every((v) => JSON.stringify([...v]) === JSON.stringify([...views[0]!]))) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const v of views.slice(1)) expect([...v]).toEqual([...views[0]!]);
      expect(views[0]!.size).toBe(atRest.length);
      // Nothing lost or added: the history read now is the one the run ended with.
      expect(historyEvents((await settled(() => client.transport.readHistory(runId))).messages)).toEqual(events);
    }, 150_000);
  });
});

/**
 * A read retried while the cluster recovers: after a node is lost, JetStream API requests
 * time out until the streams it led have elected new leaders (10-20 s on a loaded machine).
 */
async function settled<T>(read: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await read();
    } catch (err) {
      if (i >= 12) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * Poll the run's record until it has ended. Not a follow: a long-lived consumer is the
 * one thing here that must ride out the loss of the stream leader, and a stall of it
 * would hide whether the run itself went on. On a deadline, fail with the last answer
 * and the fleet's own log tail.
 */
async function untilEnded(client: Client, runId: string, processes: readonly PhaseflowProcess[]): Promise<RunRecord> {
  const deadline = Date.now() + 100_000;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const record = await client.get(runId);
      last = record.status;
      if (record.status !== "running" && record.status !== "pending") return record;
    } catch (err) {
      last = err instanceof Error ? err.message : err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const logs = processes.map((p) => p.output().slice(-4_000)).join("\n---\n");
  throw new Error(`run ${runId} had not ended after 100 s (last: ${JSON.stringify(last)}); server state:\n${await serverState(client, runId)}\nfleet log tails:\n${logs}`);
}

/** For a stalled run: every consumer of both streams and the run's history tail. */
async function serverState(client: Client, runId: string): Promise<string> {
  const out: string[] = [];
  try {
    const jsm = client.transport.jsm;
    for (const stream of ["FCLUSTER_EVENTS", "FCLUSTER_TASKS"]) {
      const sinfo = await jsm.streams.info(stream).catch((e: unknown) => String(e));
      out.push(`${stream}: ${typeof sinfo === "string" ? sinfo : JSON.stringify({ state: sinfo.state, cluster: sinfo.cluster })}`);
      for await (const ci of jsm.consumers.list(stream)) {
        out.push(`  ${ci.name}: ${JSON.stringify({ filter: ci.config.filter_subject, delivered: ci.delivered, ack_floor: ci.ack_floor, pending: ci.num_pending, ack_pending: ci.num_ack_pending, waiting: ci.num_waiting, redelivered: ci.num_redelivered, cluster: ci.cluster })}`);
      }
    }
    const history = await client.transport.readHistory(runId);
    out.push(`history: ${history.messages.length} messages; last: ${JSON.stringify(history.messages.slice(-3)).slice(0, 3000)}`);
  } catch (err) {
    out.push(`(reading the server state failed: ${String(err)})`);
  }
  return out.join("\n");
}

/** Wait until `node`'s copy of every stream is current again (after its restart). */
async function untilCurrent(jsm: JetStreamManager, streams: readonly string[], node: string): Promise<void> {
  for (const stream of streams) {
    for (let i = 0; ; i++) {
      const info = await settled(() => jsm.streams.info(stream));
      const peer = info.cluster?.replicas?.find((p) => p.name === node);
      if (info.cluster?.leader === node || (peer?.current === true && peer.offline !== true)) break;
      if (i > 300) throw new Error(`${stream}: node ${node} did not catch up: ${JSON.stringify(info.cluster)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pick<V>(m: Map<string, V>, keys: readonly string[]): Map<string, V> {
  return new Map(keys.filter((k) => m.has(k)).map((k) => [k, m.get(k)!]));
}
