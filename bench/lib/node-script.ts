/**
 * A bench script (TypeScript, through tsx) as a separate OS process, with its stderr
 * kept and searchable for JSON log lines, so a bench can wait until the process is
 * ready and stop it afterwards. Every process still alive is killed when the bench
 * process exits, even after a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (bench scripts run from here). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface ScriptProcess {
  readonly pid: number;
  /** stderr and stdout so far, for error messages. */
  output(): string;
  /**
   * Resolves once a JSON line on stderr has `msg === message` (and passes `test`, when given);
   * rejects if the process exits first or after `timeoutMs` (default 30000).
   */
  waitForLog(message: string, options?: { test?: (line: Record<string, unknown>) => boolean; timeoutMs?: number }): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL after `timeoutMs` (default 10000); resolves once it exited. */
  stop(timeoutMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export interface SpawnScriptOptions {
  /** Node flags before the script, e.g. `["--cpu-prof"]`. Default none. */
  nodeArgs?: readonly string[];
  /** Extra environment. Default none. */
  env?: Record<string, string>;
}

/**
 * Start `node --import tsx [...nodeArgs] <script> ...args` from the repository root.
 * @example
 * const w = spawnScript("bench/nats-baseline-worker.ts", [url, "S", "D", "res", "16"]);
 * await w.waitForLog("baseline worker started");
 * await w.stop();
 */
export function spawnScript(script: string, args: readonly string[], options: SpawnScriptOptions = {}): ScriptProcess {
  const child = spawn(process.execPath, ["--import", "tsx", ...(options.nodeArgs ?? []), script, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let text = "";
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<{ matches: (line: Record<string, unknown>) => boolean; resolve: (line: Record<string, unknown>) => void }>();
  let partial = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const raw of parts) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        continue;
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.matches(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => live.delete(child));
  return {
    pid: child.pid ?? -1,
    output: () => text,
    waitForLog(message, { test, timeoutMs = 30_000 } = {}) {
      const matches = (l: Record<string, unknown>): boolean => l.msg === message && (test === undefined || test(l));
      const seen = lines.find(matches);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${script}: no "${message}" log line within ${timeoutMs} ms; output:\n${text.slice(-3000)}`)), timeoutMs);
        const waiter = {
          matches,
          resolve: (line: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.add(waiter);
        void exited.then(() => {
          if (!waiters.delete(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${script} exited before logging "${message}"; output:\n${text.slice(-3000)}`));
        });
      });
    },
    async stop(timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
