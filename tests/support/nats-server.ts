/**
 * A real nats-server for the integration, contract and fault tests: random free
 * port, temporary JetStream store, killed by its own PID. The tests must never be
 * skipped because the binary is missing, so `startNatsServer` throws an error that
 * says how to install it.
 *
 * Leftovers: the server is killed on `stop()`, on process exit and on
 * SIGINT/SIGTERM/SIGHUP. A run killed with SIGKILL cannot clean up after itself,
 * so each store dir records the PID of the test process that owns it, and the
 * next `startNatsServer` reaps servers whose owner is gone (never another live
 * run's server).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

export interface NatsServerOptions {
  /** JetStream store dir. Default: a fresh temp dir, removed on `stop()`. A given dir is kept. */
  storeDir?: string;
  /** Client port. Default: a random free port. */
  port?: number;
  /** nats-server config text (e.g. an `authorization` block), written beside the store and passed with `-c`. */
  config?: string;
}

export interface RestartOptions {
  /** How to stop the running server first. Default "SIGTERM" (clean shutdown); "SIGKILL" simulates a crash. */
  signal?: "SIGTERM" | "SIGKILL";
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** PID of the current server process (changes on restart). */
  readonly pid: number;
  readonly storeDir: string;
  /** The server's recent log lines (stderr), e.g. to find "Permissions Violation" entries. */
  log(): string;
  /** Kill the server (SIGTERM, SIGKILL after a timeout) and remove its temp store dir. Idempotent. */
  stop(): Promise<void>;
  /** Stop and start again on the same port and store dir: persisted streams survive. */
  restart(options?: RestartOptions): Promise<void>;
}

const DIR_PREFIX = "phaseflow-nats-";
const OWNER_FILE = "owner.pid";
const SERVER_PID_FILE = "server.pid";
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

const INSTALL_HINT = [
  "nats-server (2.9 or newer) is required for the NATS tests and was not found.",
  "Install it, then run the tests again:",
  "  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y nats-server",
  "  macOS:          brew install nats-server",
  "  or set NATS_SERVER_BIN=/path/to/nats-server",
].join("\n");

/** Path of the nats-server binary: NATS_SERVER_BIN, then PATH, then /usr/sbin and /usr/local/bin. */
export function findNatsServerBinary(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new Error(`NATS_SERVER_BIN=${fromEnv} is not an executable file.\n${INSTALL_HINT}`);
  }
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter((d) => d !== ""), "/usr/sbin", "/usr/local/bin"];
  for (const dir of dirs) {
    const candidate = join(dir, "nats-server");
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(INSTALL_HINT);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Start a JetStream-enabled nats-server on 127.0.0.1.
 *
 * @example
 * const server = await startNatsServer();
 * const nc = await connect({ servers: server.url });
 * await server.restart();   // same port, same store
 * await server.stop();
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServerBinary();
  reapOrphans();
  const ownsDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), DIR_PREFIX)));
  if (ownsDir) ownedDirs.add(storeDir);
  writeFileSync(join(storeDir, OWNER_FILE), String(process.pid));
  const configFile = options.config === undefined ? undefined : join(storeDir, "server.conf");
  if (configFile !== undefined) writeFileSync(configFile, options.config ?? "");
  const log: string[] = [];

  let port = options.port ?? (await freePort());
  let child: ChildProcess | undefined;
  // A random port may be taken between probing and binding: try a few.
  for (let attempt = 1; child === undefined; attempt++) {
    try {
      child = await spawnReady(bin, port, storeDir, configFile, log);
    } catch (err) {
      if (options.port !== undefined || attempt >= 3) {
        if (ownsDir) {
          rmSync(storeDir, { recursive: true, force: true });
          ownedDirs.delete(storeDir);
        }
        throw err;
      }
      port = await freePort();
    }
  }

  let current: ChildProcess = child;
  let stopped = false;
  const handle: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return current.pid ?? -1;
    },
    storeDir,
    log: () => log.join(""),
    async stop() {
      if (stopped) return;
      stopped = true;
      await killChild(current, "SIGTERM");
      if (ownsDir) {
        rmSync(storeDir, { recursive: true, force: true });
        ownedDirs.delete(storeDir);
      }
    },
    async restart(restartOptions: RestartOptions = {}) {
      if (stopped) throw new Error(`nats-server on port ${port} was stopped; start a new one with startNatsServer()`);
      await killChild(current, restartOptions.signal ?? "SIGTERM");
      current = await spawnReady(bin, port, storeDir, configFile, log);
    },
  };
  return handle;
}

/** Spawn the server and resolve once it accepts TCP connections; reject with its log if it exits first. */
async function spawnReady(bin: string, port: number, storeDir: string, configFile: string | undefined, log: string[]): Promise<ChildProcess> {
  const args = [...(configFile !== undefined ? ["-c", configFile] : []), "-js", "-a", "127.0.0.1", "-p", String(port), "-sd", storeDir];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    log.push(chunk);
    if (log.length > 200) log.shift();
  });
  if (child.pid === undefined) {
    await new Promise((resolve) => child.once("error", resolve));
    throw new Error(`could not spawn ${bin}: ${log.join("")}\n${INSTALL_HINT}`);
  }
  track(child);
  writeFileSync(join(storeDir, SERVER_PID_FILE), String(child.pid));

  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await canConnect(port))) {
    if (exited) {
      throw new Error(`nats-server exited before accepting connections on port ${port} (${bin} ${args.join(" ")}):\n${log.join("")}`);
    }
    if (Date.now() > deadline) {
      await killChild(child, "SIGKILL");
      throw new Error(`nats-server did not accept connections on port ${port} within ${READY_TIMEOUT_MS} ms:\n${log.join("")}`);
    }
    await sleep(50);
  }
  return child;
}

async function killChild(child: ChildProcess, signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    untrack(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  untrack(child);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not find a free port"))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// --- leftovers: kill live children (and drop temp dirs) when this process goes away ---

const live = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let handlersInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  installExitHandlers();
}

function untrack(child: ChildProcess): void {
  live.delete(child);
}

function killAllSync(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
  ownedDirs.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.once("exit", killAllSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      const dying = [...live].map((child) => new Promise<void>((resolve) => child.once("exit", () => resolve())));
      killAllSync();
      // When nobody else handles the signal, restore its default effect (exit) once the
      // children are reaped, so none is left behind as a zombie.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        void Promise.race([Promise.all(dying), sleep(2_000)]).then(() => process.kill(process.pid, signal));
      }
    };
    process.on(signal, onSignal);
  }
}

/** Kill servers left by test processes that died without cleaning up (SIGKILL), and remove their store dirs. */
function reapOrphans(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter((name) => name.startsWith(DIR_PREFIX));
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = join(tmpdir(), name);
    const owner = readPid(join(dir, OWNER_FILE));
    if (owner === undefined || isAlive(owner)) continue;
    const server = readPid(join(dir, SERVER_PID_FILE));
    if (server !== undefined && isAlive(server) && isNatsServer(server, dir)) {
      try {
        process.kill(server, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, "utf8").trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Only a nats-server serving exactly this store dir may be reaped (PIDs are reused). */
function isNatsServer(pid: number, dir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return (cmdline[0] ?? "").endsWith("nats-server") && cmdline.includes(dir);
  } catch {
    return false;
  }
}
