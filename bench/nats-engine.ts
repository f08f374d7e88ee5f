/**
 * The NATS bench's phaseflow side: a fleet on one prefix — the coordinator service in
 * this process, `phaseflow worker` (bin/phaseflow.js) as separate OS processes serving
 * bench/fixtures/noop-executors.ts, and a client that submits a run and follows its
 * events to the terminal one. A run's time is the client's view: from `start()` to
 * the terminal event arriving.
 *
 * Each run also counts what it stored (outside the timing): task messages (the
 * `<P>_TASKS` work-queue stream's `last_seq` delta, since acked messages are removed),
 * the run's decisions and reports (`<p>.evt.<runId>.d` / `.r` in `<P>_EVENTS`, by
 * per-subject counts) and run-summary writes (the `<p>_runs` KV bucket's stream).
 */
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsNames } from "../src/transport/nats/names.js";
import { startCoordinatorService, type CoordinatorService } from "../src/fleet/coordinator-service.js";
import { createClient, type Client } from "../src/fleet/client.js";
import type { Workflow } from "../src/dsl/workflow.js";
import { withTimeout } from "./lib/deadline.js";
import { spawnScript, type ScriptProcess } from "./lib/node-script.js";

export interface FleetOptions {
  /** Server URL(s), comma-separated (a cluster's nodes). */
  url: string;
  /** Replicas of the fleet's streams and buckets. Default 1. */
  replicas?: number;
  /** NATS prefix of this fleet (unique per deployment). */
  prefix: string;
  workflows: readonly Workflow<unknown>[];
  /** Worker processes. */
  workers: number;
  /** `--concurrency` of each worker. */
  concurrency: number;
  /** Node flags of the worker processes, e.g. `["--cpu-prof", "--cpu-prof-dir=prof"]`. Default none. */
  workerNodeArgs?: readonly string[];
  /** More `phaseflow worker` flags, e.g. `["--no-stray-guard"]`. Default none. */
  workerArgs?: readonly string[];
  /** The workers' executor module (it must register `bench/noop`). Default bench/fixtures/noop-executors.ts. */
  executors?: string;
}

/** Messages one run stored, by where. */
export interface StoredCounts {
  /** Task messages published to `<P>_TASKS` (removed once acked; counted by sequence). */
  tasks: number;
  /** Decision batches on `<p>.evt.<runId>.d`. */
  decisions: number;
  /** Worker reports on `<p>.evt.<runId>.r`. */
  reports: number;
  /** Writes to the `<p>_runs` KV bucket (run summary, lease, indexes) during the run. */
  kv: number;
}

export interface FleetRun {
  /** ms from start() to the terminal event. */
  ms: number;
  runId: string;
  stored: StoredCounts;
}

export interface Fleet {
  readonly coordinator: CoordinatorService;
  readonly client: Client;
  /** PIDs of the worker processes. */
  readonly workerPids: readonly number[];
  /** Run `workflow` (by name) with input `{}`: ms from start() to the terminal event, and what it stored. Throws unless it succeeded. */
  run(workflow: string, timeoutMs: number): Promise<FleetRun>;
  /** Stop the client, the coordinator and the workers (workers get SIGTERM and drain). */
  close(): Promise<void>;
}


/**
 * Start a coordinator, the worker processes and a client on `prefix`.
 * @example
 * const fleet = await startFleet({ url, prefix: "bw1", workflows: [wide], workers: 2, concurrency: 16 });
 * const ms = await fleet.run(wide.name, 120_000);
 * await fleet.close();
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { url, prefix } = options;
  const servers = url.split(",");
  const names = natsNames(prefix);
  const coordinator = await startCoordinatorService({ nats: { servers, prefix, replicas: options.replicas ?? 1 }, workflows: options.workflows });
  const workers: ScriptProcess[] = [];
  let client: Client | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  try {
    for (let i = 0; i < options.workers; i++) {
      workers.push(
        spawnScript("bin/phaseflow.js", ["worker", "--nats", url, "--prefix", prefix, "--concurrency", String(options.concurrency), ...(options.workerArgs ?? []), options.executors ?? "bench/fixtures/noop-executors.ts"], {
          nodeArgs: options.workerNodeArgs ?? [],
          env: { PHASEFLOW_LOG_LEVEL: "info" },
        }),
      );
    }
    // The service's own "worker started" line (it carries workerId) comes after its first heartbeat,
    // so the coordinator sees the worker and never holds a timed run as pending.
    await Promise.all(workers.map((w) => w.waitForLog("worker started", { test: (l) => l.workerId !== undefined, timeoutMs: 60_000 })));
    client = await createClient({ servers, prefix });
    nc = await connect({ servers, name: "bench-stored-counts" });
    jsm = await jetstreamManager(nc);
  } catch (err) {
    await client?.close().catch(() => undefined);
    await nc?.close().catch(() => undefined);
    await Promise.all(workers.map((w) => w.stop()));
    await coordinator.close();
    throw err;
  }
  const c = client;
  const conn = nc;
  const manager = jsm;
  const kvStream = `KV_${names.buckets.runs}`;
  const lastSeq = async (stream: string): Promise<number> => (await manager.streams.info(stream)).state.last_seq;

  return {
    coordinator,
    client: c,
    workerPids: workers.map((w) => w.pid),
    async run(workflow, timeoutMs) {
      const tasksBefore = await lastSeq(names.streams.tasks);
      const kvBefore = await lastSeq(kvStream);
      const { ms, runId } = await withTimeout(
        (async () => {
          const t0 = performance.now();
          const { runId } = await c.start(workflow, {});
          // As a caller that waits for the result would: the run's decisions, not every worker report.
          const end = await c.waitForEnd(runId);
          const ms = performance.now() - t0;
          if (end.status !== "succeeded") throw new Error(`bench run ${runId} of "${workflow}" ended ${end.status}: ${JSON.stringify(end)}`);
          return { ms, runId };
        })(),
        timeoutMs,
        `phaseflow run of "${workflow}" over NATS`,
      );
      // Untimed: let the coordinator finish its last summary write, then count.
      await new Promise((resolve) => setTimeout(resolve, 250));
      const events = await manager.streams.info(names.streams.events, { subjects_filter: names.subjects.historyPurge(runId) });
      const perSubject = events.state.subjects ?? {};
      const stored: StoredCounts = {
        tasks: (await lastSeq(names.streams.tasks)) - tasksBefore,
        decisions: perSubject[names.subjects.decisions(runId)] ?? 0,
        reports: perSubject[names.subjects.reports(runId)] ?? 0,
        kv: (await lastSeq(kvStream)) - kvBefore,
      };
      return { ms, runId, stored };
    },
    async close() {
      await conn.close().catch(() => undefined);
      await c.close().catch(() => undefined);
      await coordinator.close().catch(() => undefined);
      await Promise.all(workers.map((w) => w.stop(30_000)));
    },
  };
}
