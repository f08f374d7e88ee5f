// The fleet end to end: a coordinator process and two worker processes, each its own
// OS process, talking only through a real nats-server. Every example runs to
// `succeeded` and its output equals the embedded run's output for the same input.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import { compile } from "../../src/compiler/compile.js";
import { createEngine } from "../../src/embedded/engine.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import type { Workflow } from "../../src/dsl/workflow.js";
import type { Registry } from "../../src/registry/registry.js";
import { etl } from "../../examples/etl.js";
import { reviewRouting } from "../../examples/review-routing.js";
import { studyGrid } from "../../examples/study-grid.js";
import { agents } from "../../examples/agents.js";
import { registry as etlRegistry } from "../../workers/etl.js";
import { registry as reviewRegistry } from "../../workers/review.js";
import { registry as studyRegistry } from "../../workers/study.js";
import { registry as agentsRegistry } from "../../workers/agents.js";
import { startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const url = inject("natsUrl");
const PREFIX = "fleetex";
const WORKFLOW_FILES = ["examples/etl.ts", "examples/review-routing.ts", "examples/study-grid.ts", "examples/agents.ts"];
const EXECUTOR_FILES = ["workers/etl.ts", "workers/review.ts", "workers/study.ts", "workers/agents.ts"];

const cases: { name: string; workflow: Workflow<unknown>; registry: Registry; input: unknown; seed?: number }[] = [
  { name: "etl", workflow: etl, registry: etlRegistry, input: { day: "2026-11-01", rows: 200, seed: 7 } },
  { name: "review-routing", workflow: reviewRouting, registry: reviewRegistry, input: { itemId: "item-9" } },
  { name: "study-grid", workflow: studyGrid, registry: studyRegistry, input: { integrand: "exp" }, seed: 7 },
  { name: "agents", workflow: agents, registry: agentsRegistry, input: { problem: "sort-desc", seed: 3 } },
];

async function embedded(wf: Workflow<unknown>, registry: Registry, input: unknown, seed?: number): Promise<RunRecord> {
  const engine = createEngine({ registry });
  try {
    return await (await engine.run(wf, input, seed !== undefined ? { seed } : {})).result();
  } finally {
    await engine.close();
  }
}

async function runToEnd(client: Client, workflow: string, input: unknown, seed?: number): Promise<RunRecord> {
  const { runId } = await client.start(workflow, input, seed !== undefined ? { seed } : {});
  for await (const _event of client.follow(runId)) {
    // drain until the terminal event
  }
  return client.get(runId);
}

describe("fleet - examples over NATS with a coordinator and two worker processes", () => {
  const processes: PhaseflowProcess[] = [];
  let client: Client;
  let workerPids: string[] = [];

  beforeAll(async () => {
    processes.push(await startCoordinatorProcess(url, PREFIX, WORKFLOW_FILES));
    const workers = await Promise.all([
      startWorkerProcess(url, PREFIX, EXECUTOR_FILES, ["--id", "w1", "--concurrency", "4"]),
      startWorkerProcess(url, PREFIX, EXECUTOR_FILES, ["--id", "w2", "--concurrency", "4"]),
    ]);
    processes.push(...workers);
    workerPids = ["w1", "w2"];
    client = await createClient({ servers: url, prefix: PREFIX });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await stopAll(processes);
  }, 60_000);

  it.each(cases)("fleet - $name succeeds and its output equals the embedded run's", async ({ workflow, registry, input, seed }) => {
    const [fleet, local] = await Promise.all([runToEnd(client, workflow.name, input, seed), embedded(workflow, registry, input, seed)]);
    expect(local.status).toBe("succeeded");
    expect(fleet.status, JSON.stringify(fleet.error)).toBe("succeeded");
    expect(fleet.output).toEqual(local.output);
    expect(fleet.states.map((s) => s.name)).toEqual(local.states.map((s) => s.name));
    // A map node runs on no worker: its instances do.
    for (const t of fleet.tasks) if (!t.instances) expect(workerPids).toContain(t.workerId);
  }, 120_000);

  it("fleet - both workers execute instances of a map", async () => {
    const record = await runToEnd(client, "study-grid", { integrand: "sine" }, 11);
    expect(record.status).toBe("succeeded");
    expect(record.seed).toBe(11);
    const byWorker = new Map<string, number>();
    for (const t of record.tasks) if (!t.instances) byWorker.set(t.workerId ?? "?", (byWorker.get(t.workerId ?? "?") ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(["w1", "w2"]);
    const plan = compile(studyGrid);
    expect(record.tasks.length).toBe(plan.states.reduce((n, s) => n + s.tasks.length, 0) + 60);
    expect(record.tasks.filter((t) => t.map === "run")).toHaveLength(60);
    expect(record.tasks.find((t) => t.task === "run")!.instances).toEqual({ count: 60, succeeded: 60, failed: 0, running: 0, cancelled: 0 });
    expect(record.tasks.every((t) => t.status === "succeeded")).toBe(true);
    const seeded = await embedded(studyGrid, studyRegistry, { integrand: "sine" }, 11);
    expect(record.output).toEqual(seeded.output);
  }, 120_000);

  it("fleet - status lists the finished runs and cancel of a finished run reports its status", async () => {
    const runs = await client.list({ limit: 100 });
    expect(runs.length).toBeGreaterThanOrEqual(cases.length);
    const done = runs.find((r) => r.status === "succeeded")!;
    expect(await client.cancel(done.runId)).toBe("succeeded");
  });

  it("fleet - bad input is rejected by the coordinator with the zod issue paths", async () => {
    await expect(client.start("etl", { day: 5 })).rejects.toMatchObject({ code: "INPUT_INVALID", message: expect.stringContaining("day") });
  });

  it("fleet - an unknown run id is reported as not found", async () => {
    await expect(client.get("run_nope")).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
  });
});
