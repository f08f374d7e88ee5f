// `phaseflow compile`: one test per exit code and failure mode, the three machine
// formats, and the real binary spawned as a child process.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { planSchema } from "../../src/plan/schema.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fixture = (name: string) => `tests/fixtures/cli/${name}`;

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false, cwd: root });
  return { code, stdout, stderr };
}

describe("cli compile - success", () => {
  it("cli compile - prints each state's phases, transitions, critical path and widest phase, exit 0", async () => {
    const { code, stdout, stderr } = await cli("compile", "examples/etl.ts");
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^workflow etl \(version 1\)\nplan [0-9a-f]{12}, 3 states, 6 tasks, starts in "ingest"\n/);
    expect(stdout).toContain("state ingest (initial)\n");
    expect(stdout).toMatch(/ {2}phase 2 +clean +etl\/clean\n +dedupe +etl\/dedupe\n +stats +etl\/stats\n/);
    expect(stdout).toMatch(/phase 1 +extract +etl\/extract +retries 2, timeout 10s/);
    expect(stdout).toContain("critical path  3 tasks: extract -> clean -> load");
    expect(stdout).toContain("widest phase   3 tasks (phase 2 of 3)");
    expect(stdout).toMatch(/transitions +-> report +when .*loaded.*>.*0/);
    expect(stdout).toMatch(/-> empty +fallback/);
    expect(stdout).toContain("state empty (final)\n  no tasks");
  });

  it("cli compile - lists a workflow's schedules with their next tick, and its sources", async () => {
    const { code, stdout } = await cli("compile", fixture("triggers.ts"));
    expect(code).toBe(0);
    expect(stdout).toContain("schedules (served by the coordinators):\n");
    expect(stdout).toMatch(/ {2}s0 {2}cron "0 2 \* \* \*" \(Europe\/Berlin\) {2}catch-up latest {2}next \d{4}-\d\d-\d\dT0[01]:00:00\.000Z\n/);
    expect(stdout).toMatch(/ {2}quarter {2}every 15m {2}catch-up skip {2}next \S+:(00|15|30|45):00\.000Z\n/);
    expect(stdout).toContain("sources (served by the coordinators):\n  src0  every 60s via tickets/open  batch 300\n");
  });

  it("cli compile - shows a route's pathways and a state's visit limit", async () => {
    const { code, stdout } = await cli("compile", "examples/review-routing.ts");
    expect(code).toBe(0);
    expect(stdout).toContain("state annotate (initial, max 5 visits)");
    expect(stdout).toMatch(/route by +decide/);
    expect(stdout).toMatch(/reject +-> annotate/);
  });

  it("cli compile - shortens a very wide phase and names its size", async () => {
    const { stdout } = await cli("compile", fixture("wide.ts"));
    expect(stdout).toContain("... and 56 more (w/cell x56)");
    expect(stdout).toContain("widest phase   60 tasks (phase 1 of 2)");
  });

  it("cli compile - --json prints a plan that parses with planSchema", async () => {
    const { code, stdout } = await cli("compile", "examples/agents.ts", "--json");
    expect(code).toBe(0);
    const plan = planSchema.parse(JSON.parse(stdout));
    expect(plan.workflow).toBe("agents");
    expect(plan.states.map((s) => s.name)).toEqual(["design", "code", "test", "done", "gave-up"]);
  });

  it("cli compile - --mermaid prints a flowchart with a subgraph per state", async () => {
    const { code, stdout } = await cli("compile", "examples/etl.ts", "--mermaid");
    expect(code).toBe(0);
    expect(stdout.startsWith("flowchart TB\n")).toBe(true);
    expect(stdout.match(/^ {2}subgraph /gm)).toHaveLength(3);
    expect(stdout).toContain('s0 -->|"fallback"| s2');
  });

  it("cli compile - --dot prints a digraph with a cluster per state", async () => {
    const { code, stdout } = await cli("compile", "examples/review-routing.ts", "--dot");
    expect(code).toBe(0);
    expect(stdout.startsWith('digraph "review-routing" {\n')).toBe(true);
    expect(stdout.match(/subgraph "cluster_/g)).toHaveLength(3);
    expect(stdout.trimEnd().endsWith("}")).toBe(true);
  });

  it("cli compile - --executors checks the workflow against a registry", async () => {
    expect((await cli("compile", "examples/etl.ts", "--executors", "workers/etl.ts")).code).toBe(0);
  });

  it("cli compile - --workflow picks one of several workflows by name or export name", async () => {
    expect((await cli("compile", fixture("two-workflows.ts"), "--workflow", "alpha")).stdout).toContain("workflow alpha (version 1)");
    expect((await cli("compile", fixture("two-workflows.ts"), "--workflow", "betaFlow")).stdout).toContain("workflow beta (version 2)");
  });
});

describe("cli compile - validation failures exit 1", () => {
  it("cli compile - prints every issue with code, path and message", async () => {
    const { code, stdout, stderr } = await cli("compile", fixture("invalid-workflow.ts"));
    expect(code).toBe(1);
    expect(stdout).toBe("");
    const lines = stderr.trimEnd().split("\n");
    expect(lines[0]).toBe('workflow "broken" is invalid: 3 issues');
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([
      ["INVALID_EXECUTOR_KEY", "broken/main/b"],
      ["INVALID_RETRIES", "broken/main/c"],
      ["CYCLE", "broken/main"],
    ]);
    expect(stderr).toContain("a -> b -> c -> a");
  });

  it("cli compile - reports executors missing from the --executors registry", async () => {
    const { code, stderr } = await cli("compile", "examples/etl.ts", "--executors", "workers/review.ts");
    expect(code).toBe(1);
    expect(stderr).toContain("EXECUTOR_NOT_REGISTERED");
  });
});

describe("cli compile - bad usage or input exits 2", () => {
  const cases: [string, string[], RegExp][] = [
    ["a missing file", ["compile", fixture("nope.ts")], /file "tests\/fixtures\/cli\/nope\.ts" does not exist/],
    ["a module that throws on import", ["compile", fixture("throws-on-import.ts")], /loading "tests\/fixtures\/cli\/throws-on-import\.ts" failed: DATABASE_URL is not set/],
    ["a module with no workflow", ["compile", fixture("no-workflow.ts")], /exports no workflow; export one/],
    ["an executor module given as the workflow", ["compile", fixture("registry-only.ts")], /exports no workflow \(it exports an executor registry: pass that module to --executors/],
    ["several workflows and no --workflow", ["compile", fixture("two-workflows.ts")], /exports 2 workflows: alpha, beta \(export betaFlow\); choose one with --workflow NAME/],
    ["an unknown --workflow", ["compile", fixture("two-workflows.ts"), "--workflow", "gamma"], /has no workflow "gamma"; available: alpha, beta/],
    ["an unknown flag", ["compile", "examples/etl.ts", "--jsn"], /unknown option "--jsn"\nRun 'phaseflow compile --help' for usage\./],
    ["two output formats", ["compile", "examples/etl.ts", "--json", "--dot"], /--json and --dot cannot be combined/],
    ["no file", ["compile"], /missing the workflow file/],
    ["a flag without its value", ["compile", "examples/etl.ts", "--workflow"], /option "--workflow" needs a value/],
    ["a file that is not a module", ["compile", "package.json"], /is not a JavaScript or TypeScript module/],
  ];

  it.each(cases)("cli compile - %s: one clear line on stderr, exit 2", async (_what, argv, message) => {
    const { code, stdout, stderr } = await cli(...argv);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    expect(stderr.startsWith("phaseflow compile: ")).toBe(true);
  });
});

describe("cli compile - the real binary", () => {
  const run = promisify(execFile);
  const bin = (...args: string[]) => run(process.execPath, ["bin/phaseflow.js", ...args], { cwd: root });

  it("cli compile - node bin/phaseflow.js compile examples/etl.ts prints the plan and exits 0", async () => {
    const { stdout, stderr } = await bin("compile", "examples/etl.ts");
    expect(stderr).toBe("");
    expect(stdout).toContain("state ingest (initial)");
    expect(stdout).toMatch(/phase 3 +load +etl\/load +retries 3, timeout 30s/);
    expect(stdout).toContain("state report (final)");
  });

  it("cli compile - the binary sets exit code 1 for an invalid workflow and 2 for a missing file", async () => {
    await expect(bin("compile", fixture("invalid-workflow.ts"))).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining("CYCLE") });
    await expect(bin("compile", fixture("nope.ts"))).rejects.toMatchObject({ code: 2 });
  });
});

describe("cli compile - map nodes", () => {
  it("cli compile - shows a map as one line, its params, and draws it stacked", async () => {
    const text = await cli("compile", fixture("map-study.ts"));
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/phase 2 +run +study\/run +map over items\(.*inp\.cells\) {2}max 64 in flight, tolerates 5% failed, retries 1\n/);
    expect(text.stdout).toMatch(/plan +study\/plan +params \{"replicates":5\}/);
    const mermaid = await cli("compile", fixture("map-study.ts"), "--mermaid");
    expect(mermaid.stdout).toContain('@{ shape: st-rect, label: "run[]<br/>study/run<br/>map, max 64 in flight" }');
    const dot = await cli("compile", fixture("map-study.ts"), "--dot");
    expect(dot.stdout).toContain('"grid/run" [label="run[]\\nstudy/run\\nmap, max 64 in flight", shape=box3d');
    const json = planSchema.parse(JSON.parse((await cli("compile", fixture("map-study.ts"), "--json")).stdout));
    const run = json.states[0]!.tasks.find((t) => t.name === "run")!;
    expect(run.map).toMatchObject({ maxConcurrency: 64, toleratedFailures: 0.05 });
    expect(json.states[0]!.tasks[0]!.params).toEqual({ replicates: 5 });
  });
});
