// The `phaseflow` dispatcher: help, version, unknown commands and options, and
// commands registered through the table (exit codes 0 / 1 / 2).
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { defineCommand, lazyCommand, type CliCommand } from "../../src/cli/command.js";
import { COMMANDS } from "../../src/cli/command-table.js";

async function cli(argv: string[], commands: readonly CliCommand[] = COMMANDS): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false }, commands);
  return { code, stdout, stderr };
}

const greet = defineCommand({
  name: "greet",
  summary: "Say hello",
  usage: "<name> [--loud] [--times N]",
  flags: {
    loud: { type: "boolean", short: "l", description: "shout" },
    times: { type: "string", valueName: "N", description: "how often" },
    tag: { type: "string", multiple: true, description: "a tag" },
  },
  positionals: { min: 1, max: 1 },
  run({ values, positionals }, io) {
    const text = `hello ${positionals[0]!}${(values.tag ?? []).map((t) => ` #${t}`).join("")}`;
    for (let i = 0; i < Number(values.times ?? "1"); i++) io.stdout.write(`${values.loud === true ? text.toUpperCase() : text}\n`);
    return positionals[0] === "nobody" ? 1 : 0;
  },
});

describe("cli - dispatcher", () => {
  it("cli - --help lists every registered command and the exit codes, exit 0", async () => {
    const { code, stdout } = await cli(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain("Usage: phaseflow <command> [options]");
    expect(stdout).toMatch(/^ {2}compile +Compile a workflow/m);
    expect(stdout).toContain("Exit codes: 0 ok, 1 run or validation failed, 2 bad usage or input.");
  });

  it("cli - <cmd> --help prints the command's usage and options, exit 0", async () => {
    const { code, stdout } = await cli(["compile", "--help"]);
    expect(code).toBe(0);
    expect(stdout.startsWith("Usage: phaseflow compile <file>")).toBe(true);
    expect(stdout).toMatch(/--workflow NAME +the workflow to compile/);
    expect(stdout).toMatch(/-h, --help +show this help/);
    expect((await cli(["help", "compile"])).stdout).toBe(stdout);
  });

  it("cli - no arguments prints the usage on stderr, exit 2", async () => {
    const { code, stdout, stderr } = await cli([]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("Usage: phaseflow <command>");
  });

  it("cli - an unknown command suggests the closest one, exit 2", async () => {
    const { code, stderr } = await cli(["compil", "x.ts"]);
    expect(code).toBe(2);
    expect(stderr).toBe(`phaseflow: unknown command "compil"; did you mean "compile"?\nRun 'phaseflow --help' to see the commands.\n`);
  });

  it("cli - an option before the command is a usage error, exit 2", async () => {
    expect(await cli(["--json", "compile"])).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown option "--json"') });
  });

  it("cli - --version prints the package version", async () => {
    const { code, stdout } = await cli(["--version"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe("cli - commands from the table", () => {
  it("cli - a registered command gets typed flags and positionals", async () => {
    const { code, stdout } = await cli(["greet", "ada", "-l", "--times", "2", "--tag", "a", "--tag", "b"], [greet]);
    expect(code).toBe(0);
    expect(stdout).toBe("HELLO ADA #A #B\nHELLO ADA #A #B\n");
  });

  it("cli - a command's own exit code is returned", async () => {
    expect((await cli(["greet", "nobody"], [greet])).code).toBe(1);
  });

  it("cli - too many arguments is a usage error naming the command, exit 2", async () => {
    const { code, stderr } = await cli(["greet", "a", "b"], [greet]);
    expect(code).toBe(2);
    expect(stderr).toBe(`phaseflow greet: unexpected argument "b"; "greet" takes one argument\nRun 'phaseflow greet --help' for usage.\n`);
  });

  it("cli - an unexpected crash in a command is reported as a bug, exit 1", async () => {
    const crash = defineCommand({ name: "crash", summary: "Crash", usage: "", flags: {}, run: () => { throw new TypeError("oops"); } });
    const { code, stderr } = await cli(["crash"], [crash]);
    expect(code).toBe(1);
    expect(stderr).toContain("phaseflow crash: unexpected error (a bug in phaseflow");
    expect(stderr).toContain("TypeError: oops");
  });

  it("cli - every table entry's name and summary are its command module's own (the table lists them without loading it)", async () => {
    for (const c of COMMANDS) {
      const help = await c.help();
      expect(help.startsWith(`Usage: phaseflow ${c.name} `), c.name).toBe(true);
      expect(help, c.name).toContain(`\n${c.summary}.\n`);
    }
  });

  it("cli - a lazy command loads its module once, on first use, and runs it", async () => {
    let loads = 0;
    const lazy = lazyCommand("greet", "Say hello", () => {
      loads++;
      return Promise.resolve(greet);
    });
    expect((await cli(["--help"], [lazy])).stdout).toMatch(/^ {2}greet +Say hello$/m);
    expect(loads).toBe(0);
    expect(await cli(["greet", "ada"], [lazy])).toMatchObject({ code: 0, stdout: "hello ada\n" });
    expect((await cli(["greet", "--help"], [lazy])).stdout).toContain("Usage: phaseflow greet <name>");
    expect(loads).toBe(1);
  });
});
