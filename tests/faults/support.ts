// Shared pieces of the fault-injection tests: a temp execution log per test file,
// readers for it, the "exactly one succeeded result per task" check on a run's
// history, and a fleet of real processes (coordinators, workers) plus a client.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import type { RunEvent } from "../../src/transport/messages.js";
import type { RunRecord } from "../../src/runtime/run-record-schema.js";
import { startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

export const WORKFLOWS = "tests/fixtures/faults/workflows.ts";
export const EXECUTORS = "tests/fixtures/faults/executors.ts";

export interface Execution {
  runId: string;
  taskId: string;
  attempt: number;
  pid: number;
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
      const [r, t, a, p] = line.split("\t");
      return { runId: r!, taskId: t!, attempt: Number(a), pid: Number(p) };
    })
    .filter((e) => runId === undefined || e.runId === runId);
}

/** Asserts every task of every state visit of the run has exactly one task.succeeded event. */
export function expectOneSucceededPerTask(events: readonly RunEvent[], record: RunRecord): void {
  const counts = new Map<string, number>();
  for (const e of events) {
    if (e.type === "task.succeeded") {
      const key = `${e.state}/${e.visit}/${e.task}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  const expected = record.tasks.map((t) => `${t.state}/${t.visit}/${t.task}`).sort();
  expect([...counts.keys()].sort()).toEqual(expected);
  for (const [key, n] of counts) expect(n, `task.succeeded events for ${key}`).toBe(1);
}

export class Fleet {
  readonly processes: PhaseflowProcess[] = [];
  readonly env: Record<string, string>;
  client!: Client;

  constructor(
    readonly url: string,
    readonly prefix: string,
    readonly log: string,
  ) {
    this.env = { PHASEFLOW_FAULTS_LOG: log };
  }

  async connect(): Promise<Client> {
    this.client = await createClient({ servers: this.url, prefix: this.prefix, requestTimeoutMs: 20_000 });
    return this.client;
  }

  async coordinator(extra: string[] = ["--lease-ms", "2000"]): Promise<PhaseflowProcess> {
    const p = await startCoordinatorProcess(this.url, this.prefix, [WORKFLOWS], extra, this.env);
    this.processes.push(p);
    return p;
  }

  async worker(id: string, extra: string[] = []): Promise<PhaseflowProcess> {
    const p = await startWorkerProcess(this.url, this.prefix, [EXECUTORS], ["--id", id, "--ack-wait", "2000", ...extra], this.env);
    this.processes.push(p);
    return p;
  }

  /** Follow the run to its terminal event, then return its record and whole history. */
  async finish(runId: string, options: { afterRetry?: boolean } = {}): Promise<{ record: RunRecord; events: RunEvent[] }> {
    const events: RunEvent[] = [];
    for await (const e of this.client.follow(runId, options)) events.push(e);
    const record = await this.client.get(runId);
    return { record, events: await this.client.transport.readRunEvents(runId) };
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    await stopAll(this.processes);
  }
}

/** Resolves once an event matching `test` appears in the run's history. */
export async function waitForEvent(client: Client, runId: string, test: (e: RunEvent) => boolean): Promise<RunEvent> {
  for await (const e of client.follow(runId)) if (test(e)) return e;
  throw new Error(`run ${runId} ended without a matching event`);
}
