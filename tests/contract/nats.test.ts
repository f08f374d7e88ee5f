// The transport contract on the NATS adapter, against the run's shared nats-server.
// Each test gets its own prefix (streams, buckets, subjects), so tests and files
// never see each other; cleanup deletes that prefix's streams and buckets.
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { createNatsTransport, natsNames } from "../../src/transport/nats/index.js";
import { describeTransportContract } from "./transport-contract.js";

const url = inject("natsUrl");
const SHORT_ACK_WAIT_MS = 1_000;

describeTransportContract("nats", { validates: true }, async () => {
  const prefix = `ct${randomBytes(4).toString("hex")}`;
  const names = natsNames(prefix);
  let raw: NatsConnection | undefined;
  const rawConnection = async (): Promise<NatsConnection> => (raw ??= await connect({ servers: url }));

  return {
    connect: () => createNatsTransport({ servers: url, prefix }),
    // Its own prefix: the namespace consumer's ack_wait is shared by every worker of a prefix.
    connectShortAckWait: () => createNatsTransport({ servers: url, prefix: `${prefix}s`, ackWaitMs: SHORT_ACK_WAIT_MS }),
    shortAckWaitMs: SHORT_ACK_WAIT_MS,
    async inject(kind, value, runId) {
      const nc = await rawConnection();
      const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
      const text = (v: unknown, fallback: string): string => (typeof v === "string" ? v : fallback);
      const data = typeof value === "string" ? value : JSON.stringify(value);
      if (kind === "task") {
        const [ns = "none", name = "none"] = text(record.executor, "none/none").split("/");
        await jetstream(nc).publish(names.subjects.task(ns, name), data);
      } else {
        const run = runId ?? text(record.runId, "none");
        await jetstream(nc).publish(kind === "decision" ? names.subjects.decisions(run) : names.subjects.reports(run), data);
      }
    },
    async cleanup() {
      const nc = await rawConnection();
      const jsm = await jetstreamManager(nc);
      for (const p of [prefix, `${prefix}s`]) {
        const n = natsNames(p);
        for (const stream of [n.streams.tasks, n.streams.events, `KV_${n.buckets.runs}`, `KV_${n.buckets.workers}`]) {
          await jsm.streams.delete(stream).catch(() => undefined);
        }
      }
      await nc.close();
    },
  };
});
