// `phaseflow run --nats`: the real binary submits to a coordinator process and
// follows the run while a worker process executes it, on the shared nats-server.
// A run submitted before any worker says which executors it waits for; a failed run
// exits 1 naming the task; Ctrl-C stops following and leaves the run on the fleet.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runRecordSchema, type RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { createClient } from "../../src/fleet/client.js";
import { waitForLive } from "../faults/support.js";
import { STARTUP_TIMEOUT_MS, spawnPhaseflow, startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const url = inject("natsUrl");
const PREFIX = "clirunnats";
const WORKFLOWS = "tests/fixtures/run/workflows.ts";
const EXECUTORS = "tests/fixtures/run/executors.ts";

/** `phaseflow run` as a child process, with its stdout kept apart from stderr. */
function runProcess(...args: string[]): { p: PhaseflowProcess; stdout: () => string } {
  const p = spawnPhaseflow(["run", WORKFLOWS, "--nats", url, "--prefix", PREFIX, ...args]);
  let stdout = "";
  p.child.stdout!.on("data", (chunk: string) => (stdout += chunk));
  return { p, stdout: () => stdout };
}

const recordOf = (stdout: string): RunRecord => runRecordSchema.parse(JSON.parse(stdout));

describe("cli run - over NATS", () => {
  const processes: PhaseflowProcess[] = [];

  beforeAll(async () => {
    processes.push(await startCoordinatorProcess(url, PREFIX, [WORKFLOWS]));
  });

  afterAll(async () => {
    await stopAll(processes);
  });

  it("cli run nats - reports the executors it waits for, then follows the run to success once a worker starts", async () => {
    const { p, stdout } = runProcess("--workflow", "greet", "--input", '{"user":{"name":"Ada"}}');
    processes.push(p);
    const waiting = await p.waitForLog((l) => typeof l.msg === "string" && l.msg.includes("waits for workers"));
    expect(waiting.msg).toContain('"fx/compose", "fx/shout"');
    expect(waiting.msg).toContain(`phaseflow worker --nats ${url} --prefix ${PREFIX} <executor modules>`);
    processes.push(await startWorkerProcess(url, PREFIX, [EXECUTORS]));
    const { code } = await p.exited;
    expect(code).toBe(0);
    const r = recordOf(stdout());
    expect(r).toMatchObject({ workflow: "greet", status: "succeeded", output: { greeting: "HELLO ADA!!" } });
    expect(p.lines.some((l) => l.event === "run.succeeded")).toBe(true);
  });

  it("cli run nats - a failed run exits 1 and names the failed task", async () => {
    const { p, stdout } = runProcess("--workflow", "broken", "--json");
    processes.push(p);
    const { code } = await p.exited;
    expect(code).toBe(1);
    const r = recordOf(stdout());
    expect(r.status).toBe("failed");
    expect(p.output()).toContain(`phaseflow run: run ${r.runId} failed: task work/boom failed after 1 attempt: [FIXTURE_BOOM] the fixture always fails`);
  });

  it("cli run nats - Ctrl-C stops following, exits 130 and says how to cancel; the run goes on until cancelled", async () => {
    const { p } = runProcess("--workflow", "slow");
    processes.push(p);
    // The run's history has no attempt.started: wait for the worker's live signal (started or heartbeat) of the attempt.
    const runId = String((await p.waitForLog((l) => l.event === "run.started", STARTUP_TIMEOUT_MS)).runId);
    const client = await createClient({ servers: url, prefix: PREFIX });
    try {
      await waitForLive(client, runId, (s) => s.task === "forever");
    } finally {
      await client.close();
    }
    p.kill("SIGINT");
    const { code } = await p.exited;
    expect(code).toBe(130);
    expect(p.output()).toContain(`stopped following run ${runId}; it goes on on the fleet`);
    expect(p.output()).toContain(`phaseflow cancel ${runId} --nats ${url} --prefix ${PREFIX}`);
    const status = spawnPhaseflow(["status", runId, "--nats", url, "--prefix", PREFIX, "--json"]);
    expect((await status.exited).code).toBe(0);
    expect(runRecordSchema.parse(JSON.parse(status.output())).status).toBe("running");
    const cancel = spawnPhaseflow(["cancel", runId, "--nats", url, "--prefix", PREFIX]);
    expect((await cancel.exited).code).toBe(0);
    expect(cancel.output()).toContain(`run ${runId}: cancelled`);
  }, 120_000);
});
