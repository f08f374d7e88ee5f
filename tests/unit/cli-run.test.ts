// `phaseflow run`, embedded: one test per exit code and input form, the terminal and
// non-terminal outputs, executor merging, and the real binary as a child process
// (including Ctrl-C cancelling a run).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { runRecordSchema, type RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { spawnPhaseflow, stopAll } from "../support/processes.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const WORKFLOWS = "tests/fixtures/run/workflows.ts";
const EXECUTORS = "tests/fixtures/run/executors.ts";

async function cli(argv: string[], isTTY = false): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY, cwd: root });
  return { code, stdout, stderr };
}

const run = (workflow: string, ...extra: string[]) => cli(["run", WORKFLOWS, "--workflow", workflow, "--executors", EXECUTORS, ...extra]);

function record(stdout: string): RunRecord {
  return runRecordSchema.parse(JSON.parse(stdout));
}

function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("cli run - embedded, off a terminal", () => {
  it("cli run - a succeeded run exits 0, prints the record as JSON on stdout and one log line per event on stderr", async () => {
    const { code, stdout, stderr } = await run("greet", "--input", '{"user":{"name":"Ada"}}');
    expect(code).toBe(0);
    const r = record(stdout);
    expect(r).toMatchObject({ workflow: "greet", status: "succeeded", output: { greeting: "HELLO ADA!!" } });
    expect(r.tasks.map((t) => [t.task, t.status, t.attempts])).toEqual([["compose", "succeeded", 1], ["shout", "succeeded", 1]]);
    const events = logLines(stderr).map((l) => l.event).filter((e) => e !== undefined);
    expect(events[0]).toBe("run.started");
    expect(events.at(-1)).toBe("run.succeeded");
    // v2: a task without an output schema succeeds with its accepted report (no task.succeeded decision).
    expect(events.filter((e) => e === "attempt.succeeded")).toHaveLength(2);
  });

  it("cli run - a failed run exits 1 and names the failed task, its attempts and its last error on stderr", async () => {
    const { code, stdout, stderr } = await run("broken");
    expect(code).toBe(1);
    const r = record(stdout);
    expect(r.status).toBe("failed");
    expect(r.tasks.find((t) => t.task === "boom")).toMatchObject({ status: "failed", attempts: 1, error: { code: "FIXTURE_BOOM" } });
    expect(stderr).toContain(`phaseflow run: run ${r.runId} failed: task work/boom failed after 1 attempt: [FIXTURE_BOOM] the fixture always fails\n`);
  });

  it("cli run - without --input a workflow with an input schema gets {}, so missing fields are reported", async () => {
    const { code, stdout, stderr } = await run("greet");
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain('input of workflow "greet" is invalid');
    expect(stderr).toMatch(/- user: /);
  });

  it("cli run - --input that fails the workflow's schema exits 2 with each issue's path, before anything runs", async () => {
    const { code, stdout, stderr } = await run("greet", "--input", '{"user":{"name":""},"times":0}');
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^phaseflow run: input of workflow "greet" is invalid:\n/);
    expect(stderr).toMatch(/ {2}- user\.name: /);
    expect(stderr).toMatch(/ {2}- times: /);
    expect(stderr).toContain("nothing was run");
    expect(logLines(stderr)).toEqual([]);
  });

  it("cli run - --input that is not JSON exits 2 with one clear line", async () => {
    const { code, stdout, stderr } = await run("greet", "--input", "{user: Ada}");
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^phaseflow run: --input is not valid JSON \(.+\); pass a JSON value/);
  });

  it("cli run - --input @file reads the input from a JSON file relative to the working directory", async () => {
    const { code, stdout } = await run("greet", "--input", "@tests/fixtures/run/input.json");
    expect(code).toBe(0);
    expect(record(stdout).output).toEqual({ greeting: "HELLO ADA!!!" });
  });

  it("cli run - --input @file that does not exist exits 2 naming the file", async () => {
    const { code, stderr } = await run("greet", "--input", "@tests/fixtures/run/nope.json");
    expect(code).toBe(2);
    expect(stderr).toContain('--input file "tests/fixtures/run/nope.json" does not exist');
  });

  it("cli run - takes the executors from the registries the workflow module exports", async () => {
    const { code, stdout } = await cli(["run", "tests/fixtures/run/self-contained.ts"]);
    expect(code).toBe(0);
    expect(record(stdout).output).toEqual({ answer: 42 });
  });

  it("cli run - an executor registered by two modules exits 2 naming both", async () => {
    const { code, stderr } = await cli(["run", WORKFLOWS, "--workflow", "broken", "--executors", EXECUTORS, "--executors", "tests/fixtures/run/duplicate-executors.ts"]);
    expect(code).toBe(2);
    expect(stderr).toContain(`executor "fx/prep" is registered by both "${EXECUTORS}" and "tests/fixtures/run/duplicate-executors.ts"`);
  });

  it("cli run - a workflow module without executors and no --executors exits 2 with the fix", async () => {
    const { code, stderr } = await cli(["run", "examples/etl.ts"]);
    expect(code).toBe(2);
    expect(stderr).toContain('"examples/etl.ts" exports no executor registry and no --executors were given; pass the modules that register its executors');
  });

  it.each([
    ["an unknown --schedule", ["--schedule", "fast"], /--schedule "fast" must be one of phases, eager/],
    ["an unknown --on-failure", ["--on-failure", "ignore"], /--on-failure "ignore" must be one of fail-fast, continue/],
    ["--executors with --nats", ["--nats", "nats://127.0.0.1:1"], /--executors is for embedded runs/],
    ["a NATS flag without --nats", ["--prefix", "x"], /--prefix only apply with --nats/],
  ])("cli run - %s is a usage error (exit 2)", async (_name, extra, message) => {
    const { code, stderr } = await run("broken", ...extra);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it("cli run - --on-failure and --schedule reach the run", async () => {
    const { stdout } = await run("greet", "--input", '{"user":{"name":"Ada"}}', "--schedule", "eager", "--on-failure", "continue");
    expect(record(stdout).options).toEqual({ schedule: "eager", onFailure: "continue" });
  });
});

describe("cli run - on a terminal", () => {
  it("cli run - draws the progress in place, then the task table and the output as pretty JSON", async () => {
    const { code, stdout, stderr } = await cli(["run", WORKFLOWS, "--workflow", "greet", "--executors", EXECUTORS, "--input", '{"user":{"name":"Ada"}}'], true);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout.startsWith("\u001b[?25l")).toBe(true);
    const final = stdout.slice(stdout.lastIndexOf("\u001b[?25h") + "\u001b[?25h".length);
    expect(final).toMatch(/^run \S+ {2}workflow greet@1 {2}succeeded in /);
    expect(final).toMatch(/state hello {2}succeeded {2}\(end\)\n/);
    expect(final).toMatch(/ {2}compose +succeeded +1 /);
    expect(final).toContain('output:\n{\n  "greeting": "HELLO ADA!!"\n}\n');
  });

  it("cli run - with --json prints only the record on stdout, even on a terminal", async () => {
    const { code, stdout } = await cli(["run", WORKFLOWS, "--workflow", "broken", "--executors", EXECUTORS, "--json"], true);
    expect(code).toBe(1);
    expect(record(stdout).status).toBe("failed");
  });

  it("cli run - a failed run on a terminal names the failed task on stderr", async () => {
    const { code, stdout, stderr } = await cli(["run", WORKFLOWS, "--workflow", "broken", "--executors", EXECUTORS], true);
    expect(code).toBe(1);
    expect(stdout).toMatch(/ {2}boom +failed +1 +\S+ +\S+ +\[FIXTURE_BOOM\] the fixture always fails/);
    expect(stderr).toMatch(/task work\/boom failed after 1 attempt: \[FIXTURE_BOOM\]/);
  });
});

describe("cli run - the real binary", () => {
  const exec = promisify(execFile);

  it("cli run - node bin/phaseflow.js run examples/etl.ts --json exits 0 with the etl record on stdout", async () => {
    const { stdout, stderr } = await exec(process.execPath, ["bin/phaseflow.js", "run", "examples/etl.ts", "--executors", "workers/etl.ts", "--json", "--input", '{"day":"2026-11-01","rows":200,"seed":7}'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    const r = record(stdout);
    expect(r).toMatchObject({ workflow: "etl", status: "succeeded", currentState: "report" });
    expect((r.output as { summary: string }).summary).toMatch(/^2026-11-01: loaded 183 orders/);
    const events = logLines(stderr).map((l) => l.event);
    expect(events).toContain("run.started");
    expect(events).toContain("run.succeeded");
  });

  it("cli run - Ctrl-C cancels the run, prints the record and exits 1", async () => {
    const child = spawnPhaseflow(["run", WORKFLOWS, "--workflow", "slow", "--executors", EXECUTORS]);
    let stdout = "";
    child.child.stdout!.on("data", (chunk: string) => (stdout += chunk));
    try {
      // Progress is a live signal, not in the followed history: interrupt once the task is dispatched.
      await child.waitForLog((l) => l.event === "task.dispatched" && l.task === "forever");
      child.kill("SIGINT");
      const { code } = await child.exited;
      expect(code).toBe(1);
      const r = record(stdout);
      expect(r).toMatchObject({ status: "cancelled", reason: "cancelled from the command line (Ctrl-C)" });
      expect(r.tasks[0]).toMatchObject({ task: "forever", status: "cancelled" });
      expect(child.output()).toContain(`phaseflow run: run ${r.runId} cancelled: cancelled from the command line (Ctrl-C)`);
    } finally {
      await stopAll([child]);
    }
  });
});
