// A decision batch sent again after its first try was stored (the ack lost, e.g. while a
// cluster elects a new stream leader, so the publish is retried) comes back as the same
// stored message, not as fenced; a different batch at the same place still is fenced,
// and the same events in another run are that run's own message.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FencedError } from "../../src/errors/base.js";
import { createNatsTransport, type NatsTransport } from "../../src/transport/nats/transport.js";
import { makeDecision } from "../contract/contract-support.js";

describe("nats transport - resent decisions", () => {
  let t: NatsTransport;
  beforeAll(async () => {
    t = await createNatsTransport({ servers: inject("natsUrl"), prefix: "resend" });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("nats transport - the same batch appended twice at one place is stored once; another batch there is fenced", async () => {
    const run = `run_resend${Date.now().toString(36)}`;
    const first = await t.appendDecision(makeDecision(run, 1), 0);
    await expect(t.appendDecision(makeDecision(run, 1), 0)).resolves.toBe(first);
    await expect(t.appendDecision(makeDecision(run, 2), 0)).rejects.toBeInstanceOf(FencedError);
    const { messages } = await t.readHistory(run);
    expect(messages.map((m) => m.seq)).toEqual([first]);
    // The same events in another run are not a duplicate of this one's.
    const other = `${run}x`;
    const otherSeq = await t.appendDecision(makeDecision(other, 1), 0);
    expect(otherSeq).toBeGreaterThan(first);
  });
});
