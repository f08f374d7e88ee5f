/**
 * The NATS bench's phaseflow side: a fleet on one prefix — the coordinator service in
 * this process, `phaseflow worker` (bin/phaseflow.js) as separate OS processes serving
 * bench/fixtures/noop-executors.ts, and a client that submits a run and follows its
 * events to the terminal one. A run's time is the client's view: from `start()` to
 * the terminal event arriving.
 */
import { startCoordinatorService, type CoordinatorService } from "../src/fleet/coordinator-service.js";
import { createClient, type Client } from "../src/fleet/client.js";
import type { Workflow } from "../src/dsl/workflow.js";
import { withTimeout } from "./lib/deadline.js";
import { spawnScript, type ScriptProcess } from "./lib/node-script.js";

export interface FleetOptions {
  url: string;
  /** NATS prefix of this fleet (unique per deployment). */
  prefix: string;
  workflows: readonly Workflow<unknown>[];
  /** Worker processes. */
  workers: number;
  /** `--concurrency` of each worker. */
  concurrency: number;
  /** Node flags of the worker processes, e.g. `["--cpu-prof", "--cpu-prof-dir=prof"]`. Default none. */
  workerNodeArgs?: readonly string[];
}

export interface Fleet {
  readonly coordinator: CoordinatorService;
  readonly client: Client;
  /** PIDs of the worker processes. */
  readonly workerPids: readonly number[];
  /** Run `workflow` (by name) with input `{}`; ms from start() to the terminal event. Throws unless it succeeded. */
  run(workflow: string, timeoutMs: number): Promise<number>;
  /** Stop the client, the coordinator and the workers (workers get SIGTERM and drain). */
  close(): Promise<void>;
}

const TERMINAL = new Set(["run.succeeded", "run.failed", "run.cancelled"]);

/**
 * Start a coordinator, the worker processes and a client on `prefix`.
 * @example
 * const fleet = await startFleet({ url, prefix: "bw1", workflows: [wide], workers: 2, concurrency: 16 });
 * const ms = await fleet.run(wide.name, 120_000);
 * await fleet.close();
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { url, prefix } = options;
  const coordinator = await startCoordinatorService({ nats: { servers: url, prefix }, workflows: options.workflows });
  const workers: ScriptProcess[] = [];
  let client: Client | undefined;
  try {
    for (let i = 0; i < options.workers; i++) {
      workers.push(
        spawnScript("bin/phaseflow.js", ["worker", "--nats", url, "--prefix", prefix, "--concurrency", String(options.concurrency), "bench/fixtures/noop-executors.ts"], {
          nodeArgs: options.workerNodeArgs ?? [],
          env: { PHASEFLOW_LOG_LEVEL: "info" },
        }),
      );
    }
    // The service's own "worker started" line (it carries workerId) comes after its first heartbeat,
    // so the coordinator sees the worker and never holds a timed run as pending.
    await Promise.all(workers.map((w) => w.waitForLog("worker started", { test: (l) => l.workerId !== undefined, timeoutMs: 60_000 })));
    client = await createClient({ servers: url, prefix });
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop()));
    await coordinator.close();
    throw err;
  }
  const c = client;

  return {
    coordinator,
    client: c,
    workerPids: workers.map((w) => w.pid),
    async run(workflow, timeoutMs) {
      return withTimeout(
        (async () => {
          const t0 = performance.now();
          const { runId } = await c.start(workflow, {});
          for await (const e of c.follow(runId)) {
            if (!TERMINAL.has(e.type)) continue;
            const ms = performance.now() - t0;
            if (e.type !== "run.succeeded") throw new Error(`bench run ${runId} of "${workflow}" ended with ${e.type}: ${JSON.stringify(e)}`);
            return ms;
          }
          throw new Error(`following run ${runId} of "${workflow}" ended without a terminal event`);
        })(),
        timeoutMs,
        `phaseflow run of "${workflow}" over NATS`,
      );
    },
    async close() {
      await c.close().catch(() => undefined);
      await coordinator.close().catch(() => undefined);
      await Promise.all(workers.map((w) => w.stop(30_000)));
    },
  };
}
