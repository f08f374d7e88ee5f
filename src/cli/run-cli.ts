/**
 * The dispatcher behind the `phaseflow` binary, callable in-process: it picks the
 * subcommand, runs it, turns escaped errors into one clear line on stderr, and
 * returns the exit code (0 ok, 1 run or validation failed, 2 bad usage or input).
 * It never calls `process.exit`, so tests drive it with string collectors.
 */
import { readFileSync } from "node:fs";
import { isExpectedError, exitCodeFor, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";
import { COMMANDS } from "./command-table.js";
import type { CliCommand, CliIo } from "./command.js";
import { WorkflowValidationError } from "../errors/validation.js";
import { UsageError } from "../errors/base.js";
import { formatIssues } from "./format-issues.js";
import { editDistance } from "../support/edit-distance.js";

export type { CliIo } from "./command.js";

/**
 * Run the CLI on `argv` (without the node and script paths).
 * @example
 * const out: string[] = [];
 * const code = await runCli(["compile", "examples/etl.ts", "--json"], {
 *   stdout: { write: (s: string) => out.push(s) }, stderr: process.stderr, isTTY: false,
 * });
 */
export async function runCli(argv: readonly string[], io: CliIo, commands: readonly CliCommand[] = COMMANDS): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    io.stderr.write(topLevelHelp(commands));
    return EXIT_USAGE;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    const target = first === "help" && rest[0] !== undefined ? commands.find((c) => c.name === rest[0]) : undefined;
    io.stdout.write(target ? await target.help() : topLevelHelp(commands));
    return EXIT_OK;
  }
  if (first === "--version" || first === "-v") {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (first.startsWith("-")) {
    io.stderr.write(`phaseflow: unknown option "${first}"; put options after the command\nRun 'phaseflow --help' to see the commands.\n`);
    return EXIT_USAGE;
  }
  const command = commands.find((c) => c.name === first);
  if (!command) {
    const near = closest(first, commands.map((c) => c.name));
    const hint = near !== undefined ? `; did you mean "${near}"?` : "";
    io.stderr.write(`phaseflow: unknown command "${first}"${hint}\nRun 'phaseflow --help' to see the commands.\n`);
    return EXIT_USAGE;
  }
  try {
    return await command.execute(rest, io);
  } catch (err) {
    return report(err, command, io);
  }
}

function report(err: unknown, command: CliCommand, io: CliIo): number {
  const prefix = `phaseflow ${command.name}`;
  if (err instanceof WorkflowValidationError) {
    io.stderr.write(formatIssues(err));
  } else if (err instanceof UsageError) {
    io.stderr.write(`${prefix}: ${err.message}\nRun 'phaseflow ${command.name} --help' for usage.\n`);
  } else if (isExpectedError(err)) {
    io.stderr.write(`${prefix}: ${err.message}\n`);
  } else {
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    io.stderr.write(`${prefix}: unexpected error (a bug in phaseflow; please report it with this output):\n${detail}\n`);
  }
  return exitCodeFor(err);
}

export function topLevelHelp(commands: readonly CliCommand[]): string {
  const width = Math.max(0, ...commands.map((c) => c.name.length));
  return [
    "phaseflow - state machines whose states hold DAGs of tasks, run embedded or over NATS",
    "",
    "Usage: phaseflow <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'phaseflow <command> --help' for a command's options.",
    "Exit codes: 0 ok, 1 run or validation failed, 2 bad usage or input.",
    "",
  ].join("\n");
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** The known name within edit distance 2 of `input`, if any. */
function closest(input: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const name of names) {
    const d = editDistance(input, name);
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return best;
}
