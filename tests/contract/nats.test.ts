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

describeTransportContract("nats", async () => {
  const prefix = `ct${randomBytes(4).toString("hex")}`;
  const names = natsNames(prefix);
  let raw: NatsConnection | undefined;
  const rawConnection = async (): Promise<NatsConnection> => (raw ??= await connect({ servers: url }));

  return {
    connect: () => createNatsTransport({ servers: url, prefix }),
    async injectMalformed(kind, value) {
      const nc = await rawConnection();
      const record = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
      const text = (v: unknown, fallback: string): string => (typeof v === "string" ? v : fallback);
      const data = JSON.stringify(value);
      if (kind === "task") {
        const [ns = "none", name = "none"] = text(record.executor, "none/none").split("/");
        await jetstream(nc).publish(names.subjects.task(ns, name), data);
      } else {
        await jetstream(nc).publish(names.subjects.runEvents(text(record.runId, "none")), data);
      }
    },
    async cleanup() {
      const nc = await rawConnection();
      const jsm = await jetstreamManager(nc);
      for (const stream of [names.streams.tasks, names.streams.events, `KV_${names.buckets.runs}`, `KV_${names.buckets.workers}`]) {
        await jsm.streams.delete(stream).catch(() => undefined);
      }
      await nc.close();
    },
  };
});
