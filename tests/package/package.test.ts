// The package as a new user gets it: `npm pack` (which builds dist/ through prepack),
// then the tarball installed into a fresh app in a temporary directory that cannot
// see this repository's src/. There: the bin (`npx phaseflow`), a TypeScript workflow
// module run by the bin with no build step, a plain .mjs program, and `tsc --noEmit`
// (strict, nodenext and bundler) on a program using the public types.
//
// Packed once for the file. The install is offline: every dependency comes from the
// npm cache `npm ci` filled, pinned by a lockfile derived from ours (app-lockfile.ts).
import { execFile, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/processes.js";
import { appLockfile, type Lockfile } from "./app-lockfile.js";

const exec = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

interface PackResult {
  filename: string;
  integrity: string;
  files: { path: string }[];
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

let dir = "";
let packed: PackResult;
let installLog = "";

/** Run a command in the app directory; never throws on a non-zero exit. */
async function inApp(file: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd: join(dir, "app"), env: { ...process.env, npm_config_offline: "true", ...env }, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? String(err) };
  }
}

describe.concurrent("package - npm pack, installed into a fresh app", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "phaseflow-package-"));
    const { stdout } = await exec(npm, ["pack", "--json", "--pack-destination", dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    // Lifecycle output (the prepack build) may precede the JSON.
    packed = (JSON.parse(stdout.slice(stdout.indexOf("[\n"))) as PackResult[])[0]!;

    const app = join(dir, "app");
    cpSync(join(ROOT, "tests", "fixtures", "package-app"), app, { recursive: true });
    const repoPackage = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Parameters<typeof appLockfile>[0]["repoPackage"] & { devDependencies: Record<string, string> };
    const repoLock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as Lockfile;
    const tarball = `../${packed.filename}`;
    const devDependencies = { "@types/node": repoPackage.devDependencies["@types/node"]! };
    writeFileSync(join(app, "package.json"), `${JSON.stringify({ name: "phaseflow-package-test-app", private: true, type: "module", dependencies: { phaseflow: `file:${tarball}` }, devDependencies }, null, 2)}\n`);
    writeFileSync(join(app, "package-lock.json"), `${JSON.stringify(appLockfile({ repoLock, repoPackage, tarball, integrity: packed.integrity, devDependencies }), null, 2)}\n`);
    const install = await inApp(npm, ["install", "--offline", "--no-audit", "--no-fund"]);
    installLog = `${install.stdout}${install.stderr}`;
    if (install.code !== 0) throw new Error(`npm install of the tarball failed:\n${installLog}`);
  }, 180_000);

  afterAll(() => {
    if (dir !== "" && process.env.PHASEFLOW_KEEP_PACKAGE_APP === undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("package - ships the bin, the compiled library and its types, and no TypeScript source", () => {
    const paths = packed.files.map((f) => f.path);
    for (const p of ["bin/phaseflow.js", "dist/src/cli/main.js", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/nats.js", "dist/src/nats.d.ts", "package.json", "README.md", "ui/index.html", "ui/app.js", "ui/style.css"]) {
      expect(paths).toContain(p);
    }
    expect(paths.filter((p) => p.startsWith("src/") || p.startsWith("tests/") || p.endsWith(".ts") && !p.endsWith(".d.ts"))).toEqual([]);
  });

  it("package - installs with no engine warning on this Node", () => {
    expect(installLog).not.toContain("EBADENGINE");
  });

  it("package - npx phaseflow --help lists the commands", async () => {
    const r = await inApp(npx, ["phaseflow", "--help"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: phaseflow <command> [options]");
    expect(r.stdout).toContain("compile");
  });

  it("package - phaseflow compile of a TypeScript workflow file, checked against the registry it exports", async () => {
    const r = await inApp(npx, ["phaseflow", "compile", "flow.ts"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("workflow hello (version 1)");
    expect(r.stdout).toMatch(/phase 2\s+shout\s+app\/shout/);
  });

  it("package - phaseflow run of a TypeScript workflow file with the registry it exports", async () => {
    const r = await inApp(npx, ["phaseflow", "run", "flow.ts", "--input", '{"name":"Ada"}', "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ workflow: "hello", status: "succeeded", output: { greeting: "HELLO ADA!" } });
  });

  it("package - phaseflow run --ui serves the web view from the installed package (its files and the dagre bundle)", async () => {
    const child = spawn(process.execPath, [join(dir, "app", "node_modules", "phaseflow", "bin", "phaseflow.js"), "run", "flow.ts", "--input", '{"name":"Ada"}', "--json", "--ui", "--ui-port", "0"], { cwd: join(dir, "app"), stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const base = await new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk: string) => {
        stderr += chunk;
        const url = /web view of run \S+: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr)?.[1];
        if (url !== undefined && stderr.includes("the web view stays up")) resolve(url);
      });
      void exited.then(() => reject(new Error(`phaseflow run --ui exited early:\n${stderr}`)));
    });
    try {
      for (const path of ["", "app.js", "graph.js", "vendor/dagre.js", "style.css"]) expect((await fetch(`${base}${path}`)).status, path).toBe(200);
      const runs = (await (await fetch(`${base}api/runs`)).json()) as { runs: { status: string }[] };
      expect(runs.runs.map((r) => r.status)).toEqual(["succeeded"]);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, stderr).toBe(0);
  });

  it("package - a plain .mjs program runs a workflow with createEngine and loads phaseflow/nats", async () => {
    const r = await inApp(process.execPath, ["embedded.mjs"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ status: "succeeded", output: { total: 6 }, client: "function" });
  });

  it("package - tsc --noEmit (strict) accepts a program using the public types, with nodenext and with bundler resolution", async () => {
    const projects = ["tsconfig.nodenext.json", "tsconfig.bundler.json"];
    const results = await Promise.all(projects.map((project) => inApp(process.execPath, [TSC, "-p", project])));
    results.forEach((r, i) => {
      expect(`${r.stdout}${r.stderr}`, projects[i]).toBe("");
      expect(r.code, projects[i]).toBe(0);
    });
  }, 90_000);
});
