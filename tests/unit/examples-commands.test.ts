// Every `phaseflow ...` command in the header comment of an example works as written:
// it is parsed from the file (words, single quotes as a shell reads them) and run
// in-process from the repository root, and must exit 0.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** A command line split into words the way sh does for plain words and '...' strings. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m !== null; m = re.exec(line)) words.push(m[1] ?? m[2]!);
  return words;
}

const commands = readdirSync(new URL("../../examples", import.meta.url))
  .filter((f) => f.endsWith(".ts"))
  .flatMap((file) => {
    const header = /^\/\*\*([\s\S]*?)\*\//.exec(readFileSync(new URL(`../../examples/${file}`, import.meta.url), "utf8"))?.[1] ?? "";
    return header
      .split("\n")
      .map((l) => l.replace(/^\s*\*\s?/, "").trim())
      .filter((l) => l.startsWith("phaseflow "))
      .map((line) => ({ file, line }));
  });

describe("examples - header commands", () => {
  it("examples - every example names at least one command in its header", () => {
    const files = readdirSync(new URL("../../examples", import.meta.url)).filter((f) => f.endsWith(".ts"));
    expect(new Set(commands.map((c) => c.file))).toEqual(new Set(files));
  });

  it.each(commands)("examples - $file: $line exits 0", async ({ line }) => {
    let stdout = "";
    let stderr = "";
    const code = await runCli(shellWords(line).slice(1), { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false, cwd: root });
    expect(code, `${stderr}\n${stdout.slice(0, 2000)}`).toBe(0);
  });
});
