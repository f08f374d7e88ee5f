// The CLI against a fleet, as real processes on the shared nats-server: submitting
// with --detach and following from elsewhere (`phaseflow follow`), submitting by
// workflow name with no file, refusing a local file whose plan differs from the one
// the coordinators serve (unless --force), a run cancelled while it waits for workers
// ending its follower at once, and unknown run ids.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runRecordSchema, type RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { spawnPhaseflow, startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const url = inject("natsUrl");
const PREFIX = "clifleet";
const WORKFLOWS = "tests/fixtures/run/workflows.ts";
const CHANGED = "tests/fixtures/run/greet-changed.ts";
const EXECUTORS = "tests/fixtures/run/executors.ts";
const FLEET = ["--nats", url, "--prefix", PREFIX];

const processes: PhaseflowProcess[] = [];

/** A phaseflow process whose stdout is kept apart from stderr. */
function cli(...args: string[]): { p: PhaseflowProcess; stdout: () => string; done: Promise<{ code: number | null; stdout: string; output: string }> } {
  const p = spawnPhaseflow(args);
  processes.push(p);
  let stdout = "";
  p.child.stdout!.on("data", (chunk: string) => (stdout += chunk));
  return { p, stdout: () => stdout, done: p.exited.then(({ code }) => ({ code, stdout, output: p.output() })) };
}

const recordOf = (stdout: string): RunRecord => runRecordSchema.parse(JSON.parse(stdout));

describe("cli - fleet runs", () => {
  beforeAll(async () => {
    // Side by side: each process takes a second or two to load.
    processes.push(...(await Promise.all([startCoordinatorProcess(url, PREFIX, [WORKFLOWS]), startWorkerProcess(url, PREFIX, [EXECUTORS])])));
  }, 60_000);

  afterAll(async () => {
    await stopAll(processes);
  });

  it("cli fleet - run --detach prints the run id and exits 0; follow shows the run to its end", async () => {
    const submitted = await cli("run", WORKFLOWS, "--workflow", "greet", "--input", '{"user":{"name":"Ada"}}', "--detach", ...FLEET).done;
    expect(submitted.code, submitted.output).toBe(0);
    const runId = submitted.stdout.trim();
    expect(runId).toMatch(/^run_\w+$/);
    expect(submitted.output).toContain(`phaseflow follow ${runId} --nats ${url} --prefix ${PREFIX}`);
    const followed = await cli("follow", runId, "--json", ...FLEET).done;
    expect(followed.code, followed.output).toBe(0);
    expect(recordOf(followed.stdout)).toMatchObject({ runId, workflow: "greet", status: "succeeded", output: { greeting: "HELLO ADA!!" } });
  });

  it("cli fleet - run --detach --json prints the start reply", async () => {
    const submitted = await cli("run", "--workflow", "greet", "--input", '{"user":{"name":"Bo"}}', "--detach", "--json", ...FLEET).done;
    expect(submitted.code, submitted.output).toBe(0);
    const reply = JSON.parse(submitted.stdout) as { workflow: string; runId: string; planHash: string; waitingFor: string[] };
    expect(reply).toMatchObject({ workflow: "greet", waitingFor: [] });
    expect(reply.planHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("cli fleet - run --nats --workflow NAME with no file runs the workflow the coordinators serve", async () => {
    const r = await cli("run", "--workflow", "greet", "--input", '{"user":{"name":"Cy"},"times":1}', "--json", ...FLEET).done;
    expect(r.code, r.output).toBe(0);
    expect(recordOf(r.stdout)).toMatchObject({ workflow: "greet", status: "succeeded", output: { greeting: "HELLO CY!" } });
  });

  it("cli fleet - by name, an input the served workflow rejects is a usage error (exit 2) with the issue", async () => {
    const r = await cli("run", "--workflow", "greet", "--input", '{"user":{}}', ...FLEET).done;
    expect(r.code).toBe(2);
    expect(r.output).toContain("user.name");
  });

  it("cli fleet - a local file whose plan differs from the served one is refused (exit 2), and nothing starts", async () => {
    const before = await cli("status", "--json", "--limit", "1000", ...FLEET).done;
    const r = await cli("run", CHANGED, "--input", '{"user":{"name":"Di"}}', ...FLEET).done;
    expect(r.code, r.output).toBe(2);
    expect(r.output).toMatch(/the coordinator serves workflow "greet" as plan [0-9a-f]{12}, but the submitted definition compiles to plan [0-9a-f]{12}/);
    expect(r.output).toContain("--force");
    const after = await cli("status", "--json", "--limit", "1000", ...FLEET).done;
    expect((JSON.parse(after.stdout) as unknown[]).length).toBe((JSON.parse(before.stdout) as unknown[]).length);
  });

  it("cli fleet - with --force the coordinators' plan runs, and the output says so", async () => {
    const r = await cli("run", CHANGED, "--input", '{"user":{"name":"Di"}}', "--force", "--json", ...FLEET).done;
    expect(r.code, r.output).toBe(0);
    const record = recordOf(r.stdout);
    expect(record.tasks.map((t) => t.task)).toEqual(["compose", "shout"]);
    expect(r.output).toContain(`runs the coordinators' plan ${record.planHash.slice(0, 12)} of \\"greet\\", not plan`);
  });

  it("cli fleet - a run cancelled while it waits for workers ends its follower at once", async () => {
    const follower = cli("run", "--workflow", "orphan", ...FLEET);
    const waiting = await follower.p.waitForLog((l) => typeof l.msg === "string" && l.msg.includes("waits for workers"));
    const runId = /run (run_\w+) waits/.exec(String(waiting.msg))![1]!;
    const cancel = await cli("cancel", runId, ...FLEET).done;
    expect(cancel.code, cancel.output).toBe(0);
    // No timed assertion: the follower must end by itself (within the test's timeout) with the cancelled record.
    const r = await follower.done;
    expect(r.code).toBe(1);
    expect(recordOf(r.stdout)).toMatchObject({ runId, status: "cancelled" });
  });

  it("cli fleet - status, follow and cancel of an unknown run exit 2 and point at the run list", async () => {
    const commands = ["status", "follow", "cancel"];
    const ran = await Promise.all(commands.map((command) => cli(command, "run_doesnotexist", ...FLEET).done));
    for (const [i, r] of ran.entries()) {
      const command = commands[i]!;
      expect(r.code, `${command}: ${r.output}`).toBe(2);
      expect(r.output).toContain(`phaseflow ${command}: no run "run_doesnotexist" on this fleet`);
      expect(r.output).toContain(`phaseflow status --nats ${url} --prefix ${PREFIX}`);
      expect(r.output).not.toContain("kept in memory");
    }
  });
});
