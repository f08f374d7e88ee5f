/**
 * What a subcommand is: a name, its flags, how many positional arguments it takes,
 * and a `run` function that returns an exit code. `defineCommand` turns that spec
 * into a `CliCommand`: it parses argv with node:util `parseArgs` (strict, so an
 * unknown flag is a usage error), renders `--help` from the same spec, and hands
 * `run` typed flag values. Each command lives in its own file under `commands/`
 * and is registered with one line in `command-table.ts`.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors/base.js";
import { EXIT_OK } from "./exit-codes.js";

/** Where a command writes. Tests pass string collectors; `main.ts` passes the process streams. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  /** Whether stdout is a terminal (progress bars and colour only then). */
  isTTY: boolean;
  /** Directory relative paths are resolved against. Default `process.cwd()`. */
  cwd?: string;
}

export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  /** May be given several times; the value is then an array. Default false. */
  multiple?: boolean;
  /**
   * Given twice is a usage error, for flags whose earlier value would be silently lost
   * and something else run (`--input`). Other single-valued flags keep the last value,
   * so wrappers can append overrides. Default false.
   */
  once?: boolean;
  /** Placeholder shown in help for a string flag, e.g. `NAME`. Default `VALUE`. */
  valueName?: string;
  description: string;
}

type FlagValue<F extends FlagSpec> = F["type"] extends "string"
  ? F["multiple"] extends true ? string[] : string
  : F["multiple"] extends true ? boolean[] : boolean;

/** Parsed flag values: absent flags are `undefined`. */
export type FlagValues<F extends Record<string, FlagSpec>> = { [K in keyof F]?: FlagValue<F[K]> };

export interface CommandArgs<F extends Record<string, FlagSpec>> {
  values: FlagValues<F>;
  positionals: string[];
}

export interface CommandSpec<F extends Record<string, FlagSpec>> {
  name: string;
  /** One line for `phaseflow --help`. */
  summary: string;
  /** What follows the command name in the usage line, e.g. `<file> [--json]`. */
  usage: string;
  /** Paragraphs printed after the usage line in `--help`. */
  details?: string;
  flags: F;
  /** Allowed number of positional arguments. Default `{ min: 0, max: 0 }`. */
  positionals?: { min: number; max: number; missing?: string };
  run(args: CommandArgs<F>, io: CliIo): Promise<number> | number;
}

export interface CliCommand {
  readonly name: string;
  readonly summary: string;
  /** The full `--help` text (a lazy command loads its module first). */
  help(): string | Promise<string>;
  /** Parse `argv` (the arguments after the command name) and run. Usage errors throw `UsageError`. */
  execute(argv: readonly string[], io: CliIo): Promise<number>;
}

/**
 * A command whose module is imported only when it runs or prints its own help, so
 * the binary loads just what the command given needs. `name` and `summary` are the
 * command's own (the top-level help lists them without loading anything).
 * @example
 * lazyCommand("compile", "Compile a workflow", async () => (await import("./commands/compile.js")).compileCommand)
 */
export function lazyCommand(name: string, summary: string, load: () => Promise<CliCommand>): CliCommand {
  let loaded: Promise<CliCommand> | undefined;
  const get = (): Promise<CliCommand> => (loaded ??= load());
  return {
    name,
    summary,
    help: async () => (await get()).help(),
    execute: async (argv, io) => (await get()).execute(argv, io),
  };
}

const HELP_FLAG: FlagSpec = { type: "boolean", short: "h", description: "show this help" };

/**
 * Declare a subcommand.
 * @example
 * export const helloCommand = defineCommand({
 *   name: "hello", summary: "Say hello", usage: "[--name NAME]",
 *   flags: { name: { type: "string", valueName: "NAME", description: "who to greet" } },
 *   run: ({ values }, io) => { io.stdout.write(`hello ${values.name ?? "world"}\n`); return 0; },
 * });
 */
export function defineCommand<const F extends Record<string, FlagSpec>>(spec: CommandSpec<F>): CliCommand {
  const flags: Record<string, FlagSpec> = { ...spec.flags, help: HELP_FLAG };
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, f] of Object.entries(flags)) {
    options[name] = { type: f.type, ...(f.short !== undefined ? { short: f.short } : {}), ...(f.multiple === true ? { multiple: true } : {}) };
  }
  const bounds = spec.positionals ?? { min: 0, max: 0 };
  const help = (): string => renderHelp(spec, flags);

  return {
    name: spec.name,
    summary: spec.summary,
    help,
    async execute(argv, io) {
      let parsed: { values: Record<string, unknown>; positionals: string[]; tokens: { kind: string; name?: string }[] };
      try {
        parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true, tokens: true });
      } catch (err) {
        if (argv.includes("--help") || argv.includes("-h")) return printHelp(io, help());
        throw new UsageError(describeParseError(err));
      }
      // parseArgs keeps the last of a repeated single-valued flag; for a `once` flag
      // (`--input`) silently dropping the first runs something not asked for.
      const seen = new Set<string>();
      for (const token of parsed.tokens) {
        if (token.kind !== "option" || token.name === undefined || flags[token.name]?.once !== true) continue;
        if (seen.has(token.name)) throw new UsageError(`--${token.name} was given more than once; give it once`);
        seen.add(token.name);
      }
      if (parsed.values.help === true) return printHelp(io, help());
      const n = parsed.positionals.length;
      if (n < bounds.min) {
        throw new UsageError(bounds.missing ?? `expected at least ${bounds.min} argument${bounds.min === 1 ? "" : "s"}, got ${n}`);
      }
      if (n > bounds.max) {
        const extra = parsed.positionals.slice(bounds.max).map((p) => `"${p}"`).join(", ");
        throw new UsageError(`unexpected argument ${extra}; "${spec.name}" takes ${bounds.max === 0 ? "no arguments" : bounds.max === 1 ? "one argument" : `at most ${bounds.max} arguments`}`);
      }
      const { help: _help, ...values } = parsed.values;
      return spec.run({ values: values as FlagValues<F>, positionals: parsed.positionals }, io);
    },
  };
}

function printHelp(io: CliIo, text: string): number {
  io.stdout.write(text);
  return EXIT_OK;
}

/** node:util's parse errors, rewritten as one short line. */
function describeParseError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && quoted !== undefined) return `unknown option "${quoted}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && quoted !== undefined) {
    const flag = quoted.split(" ")[0] ?? quoted;
    return message.includes("argument missing") ? `option "${flag}" needs a value` : `option "${flag}" does not take a value`;
  }
  return message.split(". ")[0] ?? message;
}

function renderHelp(spec: CommandSpec<Record<string, FlagSpec>>, flags: Record<string, FlagSpec>): string {
  const rows = Object.entries(flags).map(([name, f]) => {
    const long = `--${name}${f.type === "string" ? ` ${f.valueName ?? "VALUE"}` : ""}`;
    const left = f.short !== undefined ? `-${f.short}, ${long}` : `    ${long}`;
    return [left, f.description + (f.multiple === true ? " (repeatable)" : "")] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length));
  const lines = [
    `Usage: phaseflow ${spec.name} ${spec.usage}`,
    "",
    spec.summary + ".",
    ...(spec.details !== undefined ? ["", spec.details] : []),
    "",
    "Options:",
    ...rows.map(([left, text]) => `  ${left.padEnd(width)}  ${text}`),
    "",
  ];
  return lines.join("\n");
}
