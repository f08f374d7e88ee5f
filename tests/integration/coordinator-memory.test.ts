// Memory bounded by bytes: a coordinator keeps finished runs' records (never their
// histories) within its byte budget, however many runs it finishes. 40 runs of 5,000
// tasks go through one engine in a child process started with --expose-gc (the embedded
// engine: the same coordinator code as the fleet's, with no NATS round trips); each
// history is deleted once its run ended, as retention does on a fleet. The measure is
// V8's heapUsed after two full GCs: once after two warm-up runs (code compiled, caches
// filled), then every 4 runs. The kept records take ~2.5 MB a run, so the 16 MiB budget
// is full after ~7 runs and every later run must evict: without the budget they would
// take 100 MB by the end, six times the budget.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CHILD = fileURLToPath(new URL("../fixtures/memory/coordinator-heap.ts", import.meta.url));
const BUDGET = 16 * 1024 * 1024;
const RUNS = 40;

interface HeapReport {
  baseline: number;
  samples: number[];
  kept: { runs: number; bytes: number };
  budget: number;
}

function runChild(env: Record<string, string>): Promise<HeapReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", CHILD], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
    child.once("error", reject);
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`heap child exited ${code}:\n${err}`));
      resolve(JSON.parse(out.trim().split("\n").pop()!) as HeapReport);
    });
  });
}

describe("coordinator - memory bounded by bytes", () => {
  it("coordinator - heap stays under its finished-records budget across 40 runs of 5,000 tasks", async () => {
    const report = await runChild({ RUNS: String(RUNS), EVERY: "4", TASKS: "5000", BUDGET: String(BUDGET) });
    expect(report.samples).toHaveLength(10);
    for (const heap of report.samples) expect(heap - report.baseline).toBeLessThan(BUDGET);
    // It kept what fits, not everything, and not nothing.
    expect(report.kept.bytes).toBeLessThanOrEqual(BUDGET);
    expect(report.kept.runs).toBeGreaterThan(0);
    expect(report.kept.runs).toBeLessThan(RUNS);
  }, 600_000);
});
