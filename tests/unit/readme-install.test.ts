// The README's install steps work while phaseflow is not on the npm registry: no shell
// block tells a user to `npm install phaseflow` (a 404), and the install section packs a
// tarball named as `npm pack` names it for this version, then installs that file — the
// steps tests/package/package.test.ts performs.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/processes.js";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { name: string; version: string };

/** Every line of every ```sh block. */
function shellLines(text: string): string[] {
  const lines: string[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) lines.push(...block[1]!.split("\n"));
  return lines;
}

describe("README - install", () => {
  it("readme - no shell block installs phaseflow from the registry, where it is not published", () => {
    const fromRegistry = shellLines(readme).filter((l) => /\bnpm (install|i)\b[^#]*\sphaseflow(@[\w.^~-]+)?(\s|$)/.test(l.replace(/#.*/, "")));
    expect(fromRegistry).toEqual([]);
  });

  it("readme - the install section packs the tarball npm names for this version and installs that file", () => {
    const section = readme.slice(readme.indexOf("## Install"), readme.indexOf("\n## ", readme.indexOf("## Install") + 1));
    const tarball = `${pkg.name}-${pkg.version}.tgz`;
    const lines = shellLines(section);
    expect(lines.some((l) => /^npm ci\b/.test(l))).toBe(true);
    expect(lines.some((l) => /^npm pack\b/.test(l) && l.includes(tarball))).toBe(true);
    expect(lines.some((l) => /npm install \S*\/phaseflow\/[\w.-]+\.tgz/.test(l) && l.includes(tarball))).toBe(true);
    expect(section).toContain("not published on the npm registry");
  });
});
