/**
 * Spawning `phaseflow coordinator` and `phaseflow worker` as real OS processes for the
 * integration and fault tests: each child is tracked, its stderr (pino JSON lines) is
 * kept and searchable, and every child still alive is killed when the test file ends
 * (and on process exit), even when a test fails.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const BIN = join(ROOT, "bin", "phaseflow.js");

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

export interface PhaseflowProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Parsed pino lines seen so far on stderr. */
  readonly lines: LogLine[];
  /** Raw stderr + stdout text so far (for failure messages). */
  output(): string;
  /** Resolves with the first log line matching `test` (already seen or future). */
  waitForLog(test: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** Spawn `node bin/phaseflow.js ...args` from the repository root (log level "info", or PHASEFLOW_TEST_LOG_LEVEL to debug a test). */
export function spawnPhaseflow(args: string[], env: Record<string, string> = {}): PhaseflowProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, PHASEFLOW_LOG_LEVEL: process.env.PHASEFLOW_TEST_LOG_LEVEL ?? "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  const lines: LogLine[] = [];
  let text = "";
  const waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let partial = "";
  child.stderr.setEncoding("utf8");
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (text += chunk));
  child.stderr.on("data", (chunk: string) => {
    text += chunk;
    partial += chunk;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const raw of parts) {
      let line: LogLine;
      try {
        line = JSON.parse(raw) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.test(line)) {
          waiters[i]!.resolve(line);
          waiters.splice(i, 1);
        }
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    pid: child.pid!,
    child,
    lines,
    output: () => text,
    exited,
    kill: (signal = "SIGTERM") => {
      child.kill(signal);
    },
    waitForLog(test, timeoutMs = 30_000) {
      const seen = lines.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${timeoutMs} ms; output so far:\n${text.slice(-4000)}`)), timeoutMs);
        const waiter = {
          test,
          resolve: (l: LogLine) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(waiter);
        void exited.then(() => {
          if (waiters.includes(waiter)) {
            clearTimeout(timer);
            reject(new Error(`process exited before the log line appeared; output:\n${text.slice(-4000)}`));
          }
        });
      });
    },
  };
}

/**
 * How long a process may take to come up. Loading the CLI and its modules through tsx
 * takes 1-2 s on an idle machine, but once took over 30 s on a 2-core machine at load 20
 * (a nats-restart run failed in its setup with no output at all); the wait ends as soon
 * as the process is up, so the bound only has to rule out "never".
 */
export const STARTUP_TIMEOUT_MS = 90_000;

/** Start a coordinator process and wait until it serves the API. */
export async function startCoordinatorProcess(url: string, prefix: string, workflowFiles: string[], extra: string[] = [], env: Record<string, string> = {}): Promise<PhaseflowProcess> {
  const p = spawnPhaseflow(["coordinator", "--nats", url, "--prefix", prefix, ...extra, ...workflowFiles], env);
  await upOrKilled(p, "coordinator started");
  return p;
}

/** Start a worker process and wait until it takes tasks and has written its first heartbeat. */
export async function startWorkerProcess(url: string, prefix: string, executorFiles: string[], extra: string[] = [], env: Record<string, string> = {}): Promise<PhaseflowProcess> {
  const p = spawnPhaseflow(["worker", "--nats", url, "--prefix", prefix, ...extra, ...executorFiles], env);
  await upOrKilled(p, "worker started");
  return p;
}

/** Wait for the process's start line; a process that never got there is killed (no caller holds it to stop it later). */
async function upOrKilled(p: PhaseflowProcess, startedMsg: string): Promise<void> {
  try {
    await p.waitForLog((l) => l.msg === startedMsg, STARTUP_TIMEOUT_MS);
  } catch (err) {
    p.kill("SIGKILL");
    await p.exited;
    throw err;
  }
}

/** SIGTERM every process and wait for them to exit (SIGKILL after `timeoutMs`). */
export async function stopAll(processes: readonly PhaseflowProcess[], timeoutMs = 15_000): Promise<void> {
  await Promise.all(
    processes.map(async (p) => {
      if (p.child.exitCode !== null || p.child.signalCode !== null) return;
      p.kill("SIGTERM");
      const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
      await p.exited;
      clearTimeout(timer);
    }),
  );
}
