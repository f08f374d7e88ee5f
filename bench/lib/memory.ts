/**
 * Peak memory, measured in a child process per sample: a process's peak RSS
 * (`process.resourceUsage().maxRSS`) only ever grows, so each subject gets a fresh
 * process to be measured alone. The child runs a bench file with `--import tsx
 * --expose-gc` and prints one JSON line last; `runChild` returns it parsed.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { collectGarbage } from "./measure.js";

const MB = 1024 * 1024;

export interface MemorySample {
  /** Whole-process peak RSS, MB (includes node, tsx and the generated input). */
  peakRssMB: number;
  /** Peak RSS minus the RSS just before the measured call, MB: what the call itself added at its peak. */
  addedRssMB: number;
  /** Heap + array buffers still held after the call and a GC, MB: roughly the size of what it returned. */
  retainedMB: number;
  /** Wall time of the (cold, first) call, ms. */
  coldMs: number;
}

/**
 * In a child: measure one call of `fn` (input already built), keeping its result alive
 * until the retained size is read. Needs `--expose-gc` for the GC-based figures.
 * @example printChildResult(measureInChild(() => compile(wf)));
 */
export function measureInChild(fn: () => unknown): MemorySample {
  collectGarbage();
  const before = process.memoryUsage();
  const heapBefore = before.heapUsed + before.arrayBuffers;
  const t0 = performance.now();
  held.value = fn();
  const coldMs = performance.now() - t0;
  const peak = process.resourceUsage().maxRSS * 1024;
  collectGarbage();
  const after = process.memoryUsage();
  const retained = after.heapUsed + after.arrayBuffers - heapBefore;
  held.value = undefined; // `result` stayed reachable through `held` until the figures were read
  return { peakRssMB: peak / MB, addedRssMB: Math.max(0, peak - before.rss) / MB, retainedMB: Math.max(0, retained) / MB, coldMs };
}

/** Keeps the measured call's result reachable while the retained size is read. */
const held: { value: unknown } = { value: undefined };

/** Print the child's result as the last stdout line, where `runChild` reads it. */
export function printChildResult(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

export interface RunChildOptions {
  /** Extra node flags. Default: none. */
  nodeArgs?: string[];
  /** Kill the child after this long, ms. Default 300000. */
  timeoutMs?: number;
}

/**
 * Run `file` (a bench module, by path or `import.meta.url`) in a fresh node process with
 * tsx and `--expose-gc`, passing `args`; resolve with its last stdout line, parsed as JSON.
 * @example const sample = await runChild<MemorySample>(import.meta.url, ["--child", "compile", "100000"]);
 */
export function runChild<T>(file: string, args: readonly string[], options: RunChildOptions = {}): Promise<T> {
  const path = file.startsWith("file:") ? fileURLToPath(file) : file;
  return new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--expose-gc", ...(options.nodeArgs ?? []), path, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: options.timeoutMs ?? 300_000,
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const last = out.trim().split("\n").pop() ?? "";
      if (code !== 0) {
        reject(new Error(`bench child ${path} ${args.join(" ")} exited with ${code ?? signal}: ${err.trim().slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`bench child ${path} ${args.join(" ")} printed no JSON result; last line: ${last.slice(0, 200)}`));
      }
    });
  });
}
