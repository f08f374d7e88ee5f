// Which task messages a work-queue stream still holds, by sequence, from the stream's state
// (src/transport/nats/task-presence.ts storedSequences), on a real nats-server: acked
// messages at the front and in the middle are gone, the rest are there, and a stream with
// more interior deletes than it may list says it cannot tell.
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { storedSequences } from "../../src/transport/nats/task-presence.js";

describe("task presence - stored sequences of a work queue", () => {
  let nc: NatsConnection;
  const stream = `TP${randomBytes(4).toString("hex").toUpperCase()}`;
  const seqs: number[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: inject("natsUrl"), noAsyncTraces: true });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.Memory });
    await jsm.consumers.add(stream, { durable_name: "w", ack_policy: AckPolicy.Explicit });
    const js = jetstream(nc);
    for (let i = 0; i < 6; i++) seqs.push((await js.publish(`${stream.toLowerCase()}.t`, `m${i}`)).seq);
    // Ack the first two and the fourth: a work queue removes them.
    const consumer = await js.consumers.get(stream, "w");
    const batch = await consumer.fetch({ max_messages: 6, expires: 5_000 });
    for await (const m of batch) {
      if (m.seq === seqs[0] || m.seq === seqs[1] || m.seq === seqs[3]) await m.ackAck();
      if (m.seq === seqs[5]) break;
    }
  });

  afterAll(async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  });

  it("task presence - acked messages (at the front and in the middle) are gone, the others stored", async () => {
    const jsm = await jetstreamManager(nc);
    expect(await storedSequences(jsm, stream, seqs)).toEqual([false, false, true, false, true, true]);
    // A sequence past the last one was never stored.
    expect(await storedSequences(jsm, stream, [seqs[5]! + 1])).toEqual([false]);
  });

  it("task presence - more interior deletes than may be listed: cannot tell", async () => {
    const jsm = await jetstreamManager(nc);
    expect(await storedSequences(jsm, stream, [seqs[2]!], 0)).toBeUndefined();
    // Below the first sequence needs no list of deletes.
    expect(await storedSequences(jsm, stream, [seqs[0]!], 0)).toEqual([false]);
  });
});
