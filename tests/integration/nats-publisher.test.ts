// The hot-path JetStream publisher (src/transport/nats/publisher.ts) keeps js.publish()'s
// contract on a real nats-server: resolved only with the server's PubAck, Nats-Msg-Id
// duplicates reported as such, JetStream errors and "no stream" rejected (the latter
// after its retries), and nothing pending left after close().
import { DiscardPolicy, jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, inject, it } from "vitest";
import { jsPublisher, PublishNotAnsweredError, PublishRefusedError } from "../../src/transport/nats/publisher.js";

const url = inject("natsUrl");
const open: NatsConnection[] = [];
const streams: string[] = [];

async function setup(config: { max_msgs?: number; discard?: DiscardPolicy } = {}): Promise<{ nc: NatsConnection; subject: string; stream: string }> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  open.push(nc);
  const id = `pub${randomBytes(4).toString("hex")}`;
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: id.toUpperCase(), subjects: [`${id}.>`], storage: StorageType.Memory, ...config });
  streams.push(id.toUpperCase());
  return { nc, subject: `${id}.x`, stream: id.toUpperCase() };
}

afterEach(async () => {
  for (const nc of open.splice(0)) {
    const jsm = await jetstreamManager(nc);
    for (const s of streams.splice(0)) await jsm.streams.delete(s).catch(() => undefined);
    await nc.close();
  }
});

describe("nats publisher", () => {
  it("nats publisher - resolves with the stored message's stream and sequence, in publish order, headers kept", async () => {
    const { nc, subject, stream } = await setup();
    const pub = jsPublisher(nc);
    const h = headers();
    h.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => pub.publish(subject, new TextEncoder().encode(`m${i}`), i === 0 ? { headers: h } : {})));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
    const first = await (await jetstreamManager(nc)).streams.getMessage(stream, { seq: 1 });
    expect(first?.header.get("traceparent")).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    pub.close();
  });

  it("nats publisher - a repeated Nats-Msg-Id comes back as a duplicate of the first", async () => {
    const { nc, subject } = await setup();
    const pub = jsPublisher(nc);
    const a = await pub.publish(subject, new Uint8Array([1]), { msgID: "same" });
    const b = await pub.publish(subject, new Uint8Array([2]), { msgID: "same" });
    expect(a.duplicate).toBe(false);
    expect(b).toMatchObject({ seq: a.seq, duplicate: true });
    pub.close();
  });

  it("nats publisher - a JetStream error (stream full, discard new) rejects with its code", async () => {
    const { nc, subject } = await setup({ max_msgs: 1, discard: DiscardPolicy.New });
    const pub = jsPublisher(nc);
    await pub.publish(subject, new Uint8Array([1]));
    const err = await pub.publish(subject, new Uint8Array([2])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishRefusedError);
    expect((err as PublishRefusedError).message).toMatch(/maximum messages exceeded/i);
    pub.close();
  });

  it("nats publisher - no stream on the subject: no responders, tried `retries` times, then rejected", async () => {
    const { nc } = await setup();
    const pub = jsPublisher(nc);
    const err = await pub.publish(`nostream${randomBytes(4).toString("hex")}.x`, new Uint8Array([1]), { retries: 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishNotAnsweredError);
    expect((err as PublishNotAnsweredError).noResponders).toBe(true);
    pub.close();
  });

  it("nats publisher - close() rejects what is pending and refuses new publishes", async () => {
    const { nc, subject } = await setup();
    const pub = jsPublisher(nc);
    const pending = pub.publish(subject, new Uint8Array([1]));
    pub.close();
    await expect(pending).rejects.toThrow(/publisher closed/);
    await expect(pub.publish(subject, new Uint8Array([1]))).rejects.toThrow(/publisher closed/);
  });
});
