/**
 * A 3-node (or n-node) nats-server cluster on loopback for the cluster tests and the
 * bench: every node gets a free client port, a free route port, its own temp JetStream
 * store, a server name (`-n`) and the same `--cluster_name`, and routes to all nodes.
 * Each node is a `NatsServer` from ./nats-server.ts, so it is killed by its own PID
 * (and reaped the same way when the test process dies), and `kill()`/`start()` of one
 * node keep its ports and store: a restarted node rejoins as the same member.
 *
 * `startNatsCluster` resolves once JetStream has a meta leader and every node answers
 * JetStream API requests, so a stream can be created with 3 replicas at once.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { freePort, startNatsServer, type NatsServer } from "./nats-server.js";

export interface NatsClusterNode {
  /** Server name given with `-n`, e.g. "n1"; what stream infos name as leader and replicas. */
  readonly name: string;
  readonly url: string;
  /** `http://127.0.0.1:<port>` of the node's monitoring endpoint (`/jsz`, `/connz`). */
  readonly monitorUrl: string;
  readonly server: NatsServer;
}

/** One node's own copy of a stream, as its `/jsz` reports it. */
export interface LocalStreamState {
  messages: number;
  firstSeq: number;
  lastSeq: number;
}

export interface NatsCluster {
  readonly nodes: readonly NatsClusterNode[];
  /** All client URLs, comma-separated, as `--nats` takes them. */
  readonly urls: string;
  /** The node of that server name; throws for an unknown one. */
  node(name: string): NatsClusterNode;
  /** Kill one node with SIGKILL (a crash); its store is kept. */
  crash(name: string): Promise<void>;
  /** Start a crashed node again on the same ports and store, and wait until it answers JetStream requests. */
  restart(name: string): Promise<void>;
  /** Stop every node and remove their stores. */
  stop(): Promise<void>;
  /** Each node's local copy of every stream it holds, by stream name (from `/jsz`). */
  localStreams(name: string): Promise<Map<string, LocalStreamState>>;
  /** Client connection names on one node (from `/connz`). */
  connectionNames(name: string): Promise<string[]>;
}

export interface NatsClusterOptions {
  /** Number of nodes. Default 3. */
  size?: number;
  /** `--cluster_name`. Default "pf-test". */
  name?: string;
  /** How long to wait for a JetStream meta leader. Default 30000. */
  readyTimeoutMs?: number;
}

/**
 * Start the cluster and wait for its JetStream meta leader.
 *
 * @example
 * const cluster = await startNatsCluster();
 * const nc = await connect({ servers: cluster.nodes.map((n) => n.url) });
 * await cluster.crash("n2");
 * await cluster.restart("n2");
 * await cluster.stop();
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const clusterName = options.name ?? "pf-test";
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const ports = await distinctFreePorts(size * 3);
  const clientPorts = ports.slice(0, size);
  const routePorts = ports.slice(size, 2 * size);
  const monitorPorts = ports.slice(2 * size);
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const nodes: NatsClusterNode[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const name = `n${i + 1}`;
      const server = await startNatsServer({
        port: clientPorts[i]!,
        args: ["-n", name, "--cluster_name", clusterName, "--cluster", `nats://127.0.0.1:${routePorts[i]!}`, "--routes", routes, "-m", String(monitorPorts[i]!)],
      });
      nodes.push({ name, url: server.url, monitorUrl: `http://127.0.0.1:${monitorPorts[i]!}`, server });
    }
    await Promise.all(nodes.map((n) => waitForJetStream(n.url, readyTimeoutMs)));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.server.stop()));
    throw err;
  }
  const byName = (name: string): NatsClusterNode => {
    const found = nodes.find((n) => n.name === name);
    if (found === undefined) throw new Error(`no node "${name}" in the cluster (${nodes.map((n) => n.name).join(", ")})`);
    return found;
  };
  return {
    nodes,
    urls: nodes.map((n) => n.url).join(","),
    node: byName,
    async crash(name) {
      const node = byName(name);
      process.kill(node.server.pid, "SIGKILL");
      // Reap it through the handle so restart() starts it again on the same port and store.
      await waitUntilGone(node.server.pid);
    },
    async restart(name) {
      const node = byName(name);
      await node.server.restart({ signal: "SIGKILL" });
      await waitForJetStream(node.url, readyTimeoutMs);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.server.stop()));
    },
    async localStreams(name) {
      const jsz = (await (await fetch(`${byName(name).monitorUrl}/jsz?accounts=true&streams=true`)).json()) as JszReply;
      const out = new Map<string, LocalStreamState>();
      for (const account of jsz.account_details ?? []) {
        for (const st of account.stream_detail ?? []) out.set(st.name, { messages: st.state.messages, firstSeq: st.state.first_seq, lastSeq: st.state.last_seq });
      }
      return out;
    },
    async connectionNames(name) {
      const connz = (await (await fetch(`${byName(name).monitorUrl}/connz`)).json()) as { connections?: { name?: string }[] };
      return (connz.connections ?? []).map((c) => c.name ?? "");
    },
  };
}

interface JszReply {
  account_details?: { stream_detail?: { name: string; state: { messages: number; first_seq: number; last_seq: number } }[] }[];
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Poll `$JS.API.INFO` on one node until it answers: then the meta leader is elected and the node is current. */
async function waitForJetStream(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: url, reconnect: false, timeout: 2_000 });
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      const info = await jsm.getAccountInfo();
      if (info !== undefined) return;
    } catch (err) {
      last = err;
    } finally {
      await nc?.close().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`JetStream on ${url} did not answer within ${timeoutMs} ms (no meta leader?): ${last instanceof Error ? last.message : String(last)}`);
}

async function waitUntilGone(pid: number): Promise<void> {
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
