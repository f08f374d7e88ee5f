// Messages that must stay whole and true: a syntax error in a workflow module keeps its
// location, a repeated single-valued flag is a usage error, `coordinator` given an
// executor module points at `worker` (it has no --executors), and `compile` checks
// executors against the registry the module itself exports.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { exitCodeFor } from "../../src/cli/exit-codes.js";
import { RunLimitReachedError } from "../../src/errors/limits.js";
import { runCli } from "../../src/cli/run-cli.js";
import { deserializeError, serializeError } from "../../src/errors/serialize.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "phaseflow-cli-messages-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false, cwd: root });
  return { code, stdout, stderr };
}

describe("cli - messages stay whole", () => {
  it("cli messages - a syntax error in a workflow module prints its location, not just 'Transform failed'", async () => {
    const file = join(dir, "broken-syntax.ts");
    writeFileSync(file, 'import { workflow } from "phaseflow";\nexport const wf = workflow("x", { version: "1" ;\n');
    const { code, stderr } = await cli(["compile", file]);
    expect(code).toBe(2);
    expect(stderr).toContain(`loading "${file}" failed:`);
    expect(stderr).toMatch(/broken-syntax\.ts:2:\d+/);
    expect(stderr).not.toMatch(/error:;/);
  });

  it("cli messages - a repeated --input is a usage error (exit 2) instead of the last one winning", async () => {
    const { code, stderr } = await cli(["run", "examples/etl.ts", "--executors", "workers/etl.ts", "--input", "{}", "--input", '{"rows":1}']);
    expect(code).toBe(2);
    expect(stderr).toContain("--input was given more than once");
  });

  it("cli messages - coordinator given an executor module points at phaseflow worker, not a --executors it lacks", async () => {
    const { code, stderr } = await cli(["coordinator", "--nats", "nats://127.0.0.1:1", "workers/etl.ts"]);
    expect(code).toBe(2);
    expect(stderr).toContain("executor modules go to the workers: phaseflow worker --nats URL workers/etl.ts");
    expect(stderr).not.toContain("--executors");
  });

  it("cli messages - compile checks executors against the registry the module exports", async () => {
    const file = join(dir, "missing-executor.ts");
    writeFileSync(
      file,
      [
        'import { createRegistry, workflow } from "phaseflow";',
        'export const wf = workflow("m", { version: "1" });',
        'const s = wf.state("s");',
        's.task("a", { executor: "m/a" }).then(s.task("b", { executor: "m/b" }));',
        "export const registry = createRegistry();",
        'registry.namespace("m").register("a", () => ({}));',
        "",
      ].join("\n"),
    );
    const { code, stderr } = await cli(["compile", file]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/EXECUTOR_\w+.*"m\/b"/);
    expect(stderr).toContain("1 issue");
  });

  it("cli messages - a usage error sent back by a coordinator (e.g. retry --from naming no task) exits 2", () => {
    const remote = deserializeError({ name: "UsageError", code: "USAGE", message: 'cannot retry run "r" from task "nope"', retryable: false });
    expect(exitCodeFor(remote)).toBe(2);
    expect(exitCodeFor(deserializeError({ name: "TaskFailedError", code: "TASK_FAILED", message: "x", retryable: false }))).toBe(1);
  });

  it("cli messages - a start dropped by its workflow's concurrency (RUN_LIMIT_REACHED) sent back by a coordinator exits 2, as refused input", () => {
    const remote = deserializeError(serializeError(new RunLimitReachedError("signup", "user-7", 1)));
    expect(remote).toBeInstanceOf(RunLimitReachedError);
    expect(exitCodeFor(remote)).toBe(2);
  });
});
