// Sending task messages and telling whether one is still stored, where it now lives
// (transport/nats/task-dispatch.ts), against a JetStream manager and publisher faked in memory.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { TransportOperationError, WireMessageInvalidError } from "../../src/errors/base.js";
import { sha256HexOfBytes } from "../../src/support/hash.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { memoryPayloadStore } from "../../src/transport/memory/payload-store.js";
import { dispatchIdOf, WIRE_VERSION, type TaskMessage } from "../../src/transport/messages.js";
import { natsNames } from "../../src/transport/nats/names.js";
import type { PubAck, PublishOptions } from "../../src/transport/nats/publisher.js";
import { TaskDispatch, type TaskDispatchContext } from "../../src/transport/nats/task-dispatch.js";
import { createPayloads } from "../../src/transport/payloads.js";

const task = (over: Partial<TaskMessage> = {}): TaskMessage => ({
  v: WIRE_VERSION,
  runId: "r1",
  planHash: "h",
  workflow: "wf",
  state: "s",
  visit: 1,
  task: "t",
  attempt: 1,
  dispatchId: dispatchIdOf("r1", "s", 1, "t", 1),
  executor: "ns/work",
  idempotencyKey: "r1/s/1/t",
  parents: {},
  deadline: null,
  timeoutMs: null,
  dispatchedAt: 0,
  round: 0,
  epoch: 1,
  token: "0123456789abcdef0123",
  ...over,
});

/** A tasks stream in memory: published messages by sequence; `getMessage` finds those not removed. */
function fakes(o: { fail?: boolean } = {}) {
  const stored = new Map<number, { subject: string; msgID: string | undefined }>();
  let seq = 0;
  let release: (() => void) | undefined;
  let hold = false;
  const publish = async (subject: string, _data: Uint8Array, options: PublishOptions): Promise<PubAck> => {
    if (hold) await new Promise<void>((r) => (release = r));
    if (o.fail === true) throw new Error("no stream");
    stored.set(++seq, { subject, msgID: options.msgID });
    return { stream: "PF_TASKS", seq, duplicate: false };
  };
  const jsm = {
    streams: {
      getMessage: (_stream: string, q: { seq: number }) =>
        stored.has(q.seq) ? Promise.resolve({ seq: q.seq }) : Promise.reject(new JetStreamApiError({ err_code: JetStreamApiCodes.NoMessageFound, code: 404, description: "no message found" })),
      info: () => Promise.reject(new Error("stream info unavailable")),
    },
  };
  const c: TaskDispatchContext = {
    jsm: jsm as unknown as TaskDispatchContext["jsm"],
    names: natsNames("pf"),
    logger: createSilentLogger(),
    payloads: createPayloads(memoryPayloadStore(), { sha256: sha256HexOfBytes }),
    maxPayload: () => 1024 * 1024,
    publish,
    isClosed: () => false,
  };
  return { dispatch: new TaskDispatch(c), stored, holdPublishes: () => (hold = true), releasePublish: () => release?.() };
}

describe("nats task dispatch (task-dispatch.ts)", () => {
  it("task dispatch - a task goes to its executor's subject, deduplicated by dispatchId@epoch, and is found by the sequence it was stored at", async () => {
    const f = fakes();
    const t = task();
    await f.dispatch.send(t);
    expect([...f.stored.values()]).toEqual([{ subject: natsNames("pf").subjects.task("ns", "work", undefined), msgID: `${t.dispatchId}@1` }]);
    expect(await f.dispatch.stored(t.dispatchId, 1)).toBe(true);
    f.stored.clear(); // acked by a worker
    expect(await f.dispatch.stored(t.dispatchId, 1)).toBe(false);
  });

  it("task dispatch - while its publish is under way a task cannot be told stored or gone; one sent elsewhere it cannot read is unknown too", async () => {
    const f = fakes();
    const t = task();
    f.holdPublishes();
    const sending = f.dispatch.send(t);
    await new Promise((r) => setTimeout(r, 0));
    expect(await f.dispatch.stored(t.dispatchId, 1)).toBeUndefined();
    f.releasePublish();
    await sending;
    expect(await f.dispatch.stored(t.dispatchId, 1)).toBe(true);
    expect(await f.dispatch.stored("another", 1)).toBeUndefined(); // not sent here, and the stream could not be read
  });

  it("task dispatch - a bad executor key is refused before publishing, and a publish that fails is NATS_PUBLISH_FAILED", async () => {
    const f = fakes();
    await expect(f.dispatch.send(task({ executor: "nonamespace" }))).rejects.toBeInstanceOf(WireMessageInvalidError);
    expect(f.stored.size).toBe(0);
    const failing = fakes({ fail: true });
    const err = await failing.dispatch.send(task()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportOperationError);
    expect(err).toMatchObject({ code: "NATS_PUBLISH_FAILED" });
  });
});
