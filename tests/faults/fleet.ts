// The runner-free pieces of the fault tests: a temp execution log and readers for it,
// the accepted verdicts of a run's stored history, and a fleet of real processes
// (coordinators, workers) plus a client, started side by side. The fault tests use them
// through ./support.ts; the fault campaign (scripts/campaign.ts) uses them directly.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { createClient, type Client } from "../../src/fleet/client.js";
import type { LiveSignal, RunEvent } from "../../src/transport/messages.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { releaseFileOf } from "../fixtures/faults/release.js";
import { startCoordinatorProcess, startWorkerProcess, stopAll, type LogLine, type PhaseflowProcess } from "../support/processes.js";

export const WORKFLOWS = "tests/fixtures/faults/workflows.ts";
export const EXECUTORS = "tests/fixtures/faults/executors.ts";

export interface Execution {
  runId: string;
  taskId: string;
  attempt: number;
  pid: number;
  /** The attempt's ctx.seed. */
  seed: number;
}

export function newExecutionLog(): string {
  return join(mkdtempSync(join(tmpdir(), "phaseflow-faults-")), "executions.log");
}

export function readExecutions(log: string, runId?: string): Execution[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [r, t, a, p, s] = line.split("\t");
      return { runId: r!, taskId: t!, attempt: Number(a), pid: Number(p), seed: Number(s) };
    })
    .filter((e) => runId === undefined || e.runId === runId);
}

/** The key of one task in one state visit. */
export const taskKey = (t: { state: string; visit: number; task: string }): string => `${t.state}/${t.visit}/${t.task}`;

const tokenHashOf = (token: string): string => createHash("sha256").update(token).digest("hex").slice(0, 32);

/**
 * How many accepted successes each task visit has in a history (in folded order): an
 * accepted success is an `attempt.succeeded` report of the task's current attempt (the
 * dispatchId of its last task.dispatched, with that dispatch's token), the first verdict
 * of that attempt. Stale, duplicate and forged reports do not count.
 */
export function acceptedSuccesses(events: readonly RunEvent[]): Map<string, number> {
  const current = new Map<string, { dispatchId: string; tokenHash: string; settled: boolean }>();
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.type === "task.dispatched") {
      current.set(taskKey(e), { dispatchId: e.dispatchId, tokenHash: e.tokenHash, settled: false });
    } else if (e.type === "attempt.succeeded" || e.type === "attempt.failed") {
      const key = taskKey(e);
      const cur = current.get(key);
      if (!cur || cur.settled || cur.dispatchId !== e.dispatchId || cur.tokenHash !== tokenHashOf(e.token)) continue;
      cur.settled = true;
      if (e.type === "attempt.succeeded") counts.set(key, (counts.get(key) ?? 0) + 1);
    } else if (e.type === "task.failed" || e.type === "task.cancelled" || e.type === "task.retrying") {
      const cur = current.get(taskKey(e));
      if (cur) cur.settled = true;
    }
  }
  return counts;
}

export type CoordinatorSpec = readonly string[];
/** The fault tests' usual coordinator: 2 s leases. */
export const COORDINATOR: CoordinatorSpec = ["--lease-ms", "2000"];
/** One worker: its id, or its id and flags (`--ack-wait 2000` unless they give one). */
export type WorkerSpec = string | { readonly id: string; readonly flags: readonly string[] };

/** What a fleet starts at once: its coordinators and workers (then the client connects). */
export interface FleetSpec {
  readonly coordinators?: readonly CoordinatorSpec[];
  readonly workers?: readonly WorkerSpec[];
  /** The client's NATS user and password, on a server with roles. */
  readonly clientAuth?: { readonly user: string; readonly pass: string };
}

export class Fleet {
  readonly processes: PhaseflowProcess[] = [];
  /** The coordinators started so far, in the order they were asked for. */
  readonly coordinators: PhaseflowProcess[] = [];
  /** The workers started so far, by id. */
  readonly workers = new Map<string, PhaseflowProcess>();
  readonly env: Record<string, string>;
  client!: Client;
  private connected = false;

  constructor(
    readonly url: string,
    readonly prefix: string,
    readonly log: string,
  ) {
    this.env = { PHASEFLOW_FAULTS_LOG: log };
  }

  /** Ends the run's held faults/long tasks at their next step (they still report success). */
  release(runId: string): void {
    writeFileSync(releaseFileOf(this.log, runId), "");
  }

  async connect(auth?: { readonly user: string; readonly pass: string }): Promise<Client> {
    this.client = await createClient({ servers: this.url, prefix: this.prefix, requestTimeoutMs: 20_000, ...auth });
    this.connected = true;
    return this.client;
  }

  /**
   * Start every coordinator and worker of `spec` side by side (each is a process that
   * takes a second or two to load), wait until all serve, then connect the client.
   * They are recorded (`processes`, `coordinators`, `workers`) in the spec's order, coordinators
   * first, whatever order they came up in; if one fails to start, the others are still
   * recorded, so `close` stops them.
   */
  async start(spec: FleetSpec): Promise<void> {
    const coordinators = (spec.coordinators ?? []).map((flags) => this.spawnCoordinator(flags));
    const workers = (spec.workers ?? []).map((w) => (typeof w === "string" ? { id: w, flags: [] } : w)).map((w) => ({ id: w.id, started: this.spawnWorker(w.id, w.flags) }));
    const settled = await Promise.allSettled([...coordinators, ...workers.map((w) => w.started)]);
    const started = (i: number): PhaseflowProcess | undefined => {
      const r = settled[i]!;
      return r.status === "fulfilled" ? r.value : undefined;
    };
    coordinators.forEach((_, i) => {
      const p = started(i);
      if (p) this.addCoordinator(p);
    });
    workers.forEach((w, i) => {
      const p = started(coordinators.length + i);
      if (p) this.addWorker(w.id, p);
    });
    const failed = settled.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
    if (!this.connected) await this.connect(spec.clientAuth);
  }

  async coordinator(extra: CoordinatorSpec = COORDINATOR): Promise<PhaseflowProcess> {
    return this.addCoordinator(await this.spawnCoordinator(extra));
  }

  /** A coordinator serving the given workflow modules (instead of the fault tests' own). */
  async coordinatorOf(files: readonly string[], extra: CoordinatorSpec = COORDINATOR): Promise<PhaseflowProcess> {
    return this.addCoordinator(await startCoordinatorProcess(this.url, this.prefix, [...files], [...extra], this.env));
  }

  async worker(id: string, extra: readonly string[] = []): Promise<PhaseflowProcess> {
    return this.addWorker(id, await this.spawnWorker(id, extra));
  }

  private spawnCoordinator(extra: CoordinatorSpec): Promise<PhaseflowProcess> {
    return startCoordinatorProcess(this.url, this.prefix, [WORKFLOWS], [...extra], this.env);
  }

  private spawnWorker(id: string, extra: readonly string[]): Promise<PhaseflowProcess> {
    // A flag may be given once: the default ack wait only when the test chose none.
    const ackWait = extra.includes("--ack-wait") ? [] : ["--ack-wait", "2000"];
    return startWorkerProcess(this.url, this.prefix, [EXECUTORS], ["--id", id, ...ackWait, ...extra], this.env);
  }

  private addCoordinator(p: PhaseflowProcess): PhaseflowProcess {
    this.processes.push(p);
    this.coordinators.push(p);
    return p;
  }

  private addWorker(id: string, p: PhaseflowProcess): PhaseflowProcess {
    this.processes.push(p);
    this.workers.set(id, p);
    return p;
  }

  /** Follow the run to its terminal event, then return its record and whole history. */
  async finish(runId: string, options: { afterRetry?: boolean } = {}): Promise<{ record: RunRecord; events: RunEvent[] }> {
    const events: RunEvent[] = [];
    for await (const e of this.client.follow(runId, options)) events.push(e);
    const record = await this.client.get(runId);
    return { record, events: await this.history(runId) };
  }

  /** The run's stored history as the fold reads it (decisions and reports, in decided order). */
  async history(runId: string): Promise<RunEvent[]> {
    return historyEvents((await this.client.transport.readHistory(runId)).messages);
  }

  /** The record folded from the run's stored history (what a reader without the workflow sees). */
  async foldedRecord(runId: string): Promise<RunRecord> {
    return recordOfHistory((await this.client.transport.readHistory(runId)).messages);
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    await stopAll(this.processes);
  }
}

/** Two coordinators (2 s leases, the given ids) and two workers of concurrency 8: the setup of the two-coordinator tests. */
export const twoCoordinators = (idA: string, idB: string): FleetSpec => ({
  coordinators: [
    [...COORDINATOR, "--id", idA],
    [...COORDINATOR, "--id", idB],
  ],
  workers: [{ id: "w1", flags: ["--concurrency", "8"] }, { id: "w2", flags: ["--concurrency", "8"] }],
});

/** What a coordinator logs when it adopts a run whose holder's lease ran out. */
const TOOK_OVER = "took over a run whose coordinator stopped renewing its lease";

/** Resolves once coordinator `p` has logged that it took run `runId` over. */
export function tookOver(p: PhaseflowProcess, runId: string, timeoutMs = 30_000): Promise<LogLine> {
  return p.waitForLog((l) => l.msg === TOOK_OVER && l.runId === runId, timeoutMs);
}

/** Resolves once an event matching `test` appears in the run's stored history. */
export async function waitForEvent(client: Client, runId: string, test: (e: RunEvent) => boolean): Promise<RunEvent> {
  for await (const e of client.follow(runId)) if (test(e)) return e;
  throw new Error(`run ${runId} ended without a matching event`);
}

/**
 * Resolves with the first live signal of the run matching `test` (attempt.started once an
 * attempt has run for 200 ms, then heartbeats and progress). Subscribe before the signal
 * is due: live signals are not stored.
 */
export async function waitForLive(client: Client, runId: string, test: (s: LiveSignal) => boolean, timeoutMs = 30_000): Promise<LiveSignal> {
  let resolve!: (s: LiveSignal) => void;
  const seen = new Promise<LiveSignal>((r) => (resolve = r));
  const sub = await client.transport.subscribeLive(runId, (s) => {
    if (test(s)) resolve(s);
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      seen,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no matching live signal of run ${runId} within ${timeoutMs} ms`)), timeoutMs))),
    ]);
  } finally {
    clearTimeout(timer);
    await sub.stop();
  }
}

/** Resolves with the first execution of the run in the log matching `test` (executors log when they begin). */
export async function waitForExecution(log: string, runId: string, test: (e: Execution) => boolean, timeoutMs = 30_000): Promise<Execution> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hit = readExecutions(log, runId).find(test);
    if (hit) return hit;
    if (Date.now() > until) throw new Error(`no matching execution of run ${runId} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
