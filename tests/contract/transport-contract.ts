/**
 * The transport contract: behaviour every Transport adapter (memory strict, memory
 * fast, NATS) must share, so the coordinator and workers can rely on it whatever the
 * wire. Tasks are covered here, histories, fencing, live signals and control in
 * history-contract.ts.
 *
 * Use it from a `*.test.ts` file:
 *
 *   describeTransportContract("nats", { validates: true }, async () => ({
 *     connect: async () => createNatsTransport({ servers, prefix }),   // a new connection each call
 *     connectShortAckWait: async () => ...,                            // same, with a short ack wait
 *     shortAckWaitMs: 1000,
 *     inject: async (kind, raw, runId) => { ... },                     // put `raw` as-is on the wire
 *     cleanup: async () => { ... },
 *   }));
 *
 * - `setup` runs before each test and `cleanup` after it; every connection made during a
 *   test is closed by the suite before `cleanup`. Connections of one setup share one backend.
 * - `inject(kind, raw, runId?)` puts `raw` on the wire unchecked: a task goes to the
 *   namespace of its `executor: "ns/name"`; a decision or report is stored on the
 *   decision / report subject of `runId` (default: the `runId` it carries). A string is the
 *   message's text itself. Resolve once it is stored.
 * - `validates`: the adapter JSON-encodes and schema-checks outgoing messages (memory fast
 *   passes objects by reference and does not).
 * - Every wait is on a handler call, with a generous safety timeout; before asserting that
 *   something did NOT arrive, a test makes a round trip through the transport.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TaskMessage } from "../../src/transport/messages.js";
import type { TaskDelivery, Transport } from "../../src/transport/port.js";
import { Collector, makeTask, roundTrip, sleep, uniq } from "./contract-support.js";
import { describeHistoryContract } from "./history-contract.js";

export type InjectKind = "task" | "decision" | "report";

export interface ContractHarness {
  /** A new connection (Transport) to the shared backend. */
  connect(): Promise<Transport>;
  /** A new connection to a backend whose task ack wait is `shortAckWaitMs` (for keep-alive tests). */
  connectShortAckWait(): Promise<Transport>;
  readonly shortAckWaitMs: number;
  /** Put a raw message on the wire, bypassing the adapter's own checks. */
  inject(kind: InjectKind, raw: unknown, runId?: string): Promise<void>;
  cleanup(): Promise<void>;
}

export interface ContractFeatures {
  /** Outgoing messages are JSON-encoded and schema-checked (false for memory's fast wire). */
  validates: boolean;
}

/** What each test sees: a fresh run id and namespace, and a tracked connect(). */
export interface ContractContext {
  readonly name: string;
  readonly features: ContractFeatures;
  harness(): ContractHarness;
  connect(): Promise<Transport>;
  run(): string;
  ns(): string;
}

export function describeTransportContract(name: string, features: ContractFeatures, setup: () => Promise<ContractHarness>): void {
  describe(`transport contract (${name})`, () => {
    let harness: ContractHarness;
    let open: Transport[] = [];
    let run: string;
    let ns: string;

    const ctx: ContractContext = {
      name,
      features,
      harness: () => harness,
      connect: async () => {
        const t = await harness.connect();
        open.push(t);
        return t;
      },
      run: () => run,
      ns: () => ns,
    };
    const connect = (): Promise<Transport> => ctx.connect();
    const task = (n: number | string, over: Partial<TaskMessage> = {}, namespace = ns): TaskMessage => makeTask(`${namespace}/work`, run, `t${n}`, over);
    const ackAll = (sink: Collector<TaskDelivery>) => async (d: TaskDelivery): Promise<void> => {
      sink.push(d);
      await d.ack();
    };

    beforeEach(async () => {
      harness = await setup();
      run = `run_${uniq()}`;
      ns = `ns_${uniq()}`;
    });

    afterEach(async () => {
      const closing = open;
      open = [];
      await Promise.all(closing.map((t) => t.close()));
      await harness.cleanup();
    });

    describe("tasks", () => {
      it(`${name} transport - gives each task to exactly one consumer of its namespace`, async () => {
        const [a, b, producer] = [await connect(), await connect(), await connect()];
        const got = new Collector<TaskDelivery>();
        await a.consumeTasks({ namespaces: [ns], concurrency: 5 }, ackAll(got));
        await b.consumeTasks({ namespaces: [ns], concurrency: 5 }, ackAll(got));
        for (let i = 0; i < 10; i++) await producer.dispatch(task(i));
        await got.waitFor(10, "deliveries");
        await roundTrip(producer);
        const ids = got.items.map((d) => d.message.dispatchId);
        expect(ids).toHaveLength(10);
        expect(new Set(ids).size).toBe(10);
      });

      it(`${name} transport - isolates the consumers of two namespaces`, async () => {
        const other = `ns_${uniq()}`;
        const [a, b] = [await connect(), await connect()];
        const gotA = new Collector<TaskDelivery>();
        const gotB = new Collector<TaskDelivery>();
        await a.consumeTasks({ namespaces: [ns], concurrency: 10 }, ackAll(gotA));
        await b.consumeTasks({ namespaces: [other], concurrency: 10 }, ackAll(gotB));
        for (let i = 0; i < 5; i++) {
          await a.dispatch(task(`b${i}`, {}, other));
          await a.dispatch(task(`a${i}`));
        }
        await Promise.all([gotA.waitFor(5, `${ns} deliveries`), gotB.waitFor(5, `${other} deliveries`)]);
        await roundTrip(a);
        expect(gotA.items.map((d) => d.message.executor)).toEqual(Array(5).fill(`${ns}/work`));
        expect(gotB.items.map((d) => d.message.executor)).toEqual(Array(5).fill(`${other}/work`));
      });

      it(`${name} transport - drops a second dispatch of the same dispatchId and epoch, delivers one of a new epoch`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 1 }, ackAll(got));
        await t.dispatch(task(1));
        await t.dispatch(task(1));
        await t.dispatch(task(1, { epoch: 2 }));
        await t.dispatch(task(2));
        await got.waitFor(3, "deliveries");
        await roundTrip(t);
        expect(got.items.map((d) => `${d.message.task}@${d.message.epoch}`)).toEqual(["t1@1", "t1@2", "t2@1"]);
      });

      it(`${name} transport - holds at most \`concurrency\` unsettled deliveries per consumer`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        const held: TaskDelivery[] = [];
        let most = 0;
        await t.consumeTasks({ namespaces: [ns], concurrency: 2 }, async (d) => {
          held.push(d);
          most = Math.max(most, held.length);
          got.push(d);
        });
        for (let i = 0; i < 6; i++) await t.dispatch(task(i));
        for (let acked = 0; acked < 6; acked++) {
          await got.waitFor(Math.min(acked + 2, 6), "deliveries");
          await roundTrip(t);
          expect(held).toHaveLength(Math.min(2, 6 - acked));
          await held.shift()!.ack();
        }
        expect(most).toBe(2);
        expect(got.items).toHaveLength(6);
      });

      it(`${name} transport - redelivers a nak'd task with deliveryCount 2, at once or after a delay`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 4 }, async (d) => {
          got.push(d);
          if (d.deliveryCount === 1) d.nak(d.message.task === "t1" ? undefined : 30);
          else await d.ack();
        });
        await t.dispatch(task(1));
        await t.dispatch(task(2));
        await got.waitFor(4, "deliveries");
        expect(got.items.map((d) => `${d.message.task}#${d.deliveryCount}`).sort()).toEqual(["t1#1", "t1#2", "t2#1", "t2#2"]);
      });

      it(`${name} transport - carries a task's trace context (traceparent, tracestate) with it, on redelivery too`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 4 }, async (d) => {
          got.push(d);
          if (d.message.task === "t1" && d.deliveryCount === 1) d.nak();
          else await d.ack();
        });
        const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await t.dispatch(task(1, { traceparent, tracestate: "vendor=abc" }));
        await t.dispatch(task(2));
        await got.waitFor(3, "deliveries");
        for (const d of got.items.filter((x) => x.message.task === "t1")) {
          expect(d.message.traceparent).toBe(traceparent);
          expect(d.message.tracestate).toBe("vendor=abc");
        }
        const plain = got.items.find((x) => x.message.task === "t2")!.message;
        expect(plain.traceparent).toBeUndefined();
        expect(plain.tracestate).toBeUndefined();
      });

      it(`${name} transport - drops a term'd task for good`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 4 }, async (d) => {
          got.push(d);
          if (d.message.task === "t1") d.term();
          else if (d.deliveryCount === 1) d.nak(50); // the sentinel comes back after any redelivery of t1 would have
          else await d.ack();
        });
        await t.dispatch(task(1));
        await t.dispatch(task(2));
        await got.waitFor(3, "deliveries");
        await roundTrip(t);
        expect(got.items.map((d) => `${d.message.task}#${d.deliveryCount}`)).toEqual(["t1#1", "t2#1", "t2#2"]);
      });

      it(`${name} transport - gives the unsettled deliveries of a stopped consumer to another consumer`, async () => {
        const [a, b] = [await connect(), await connect()];
        const gotA = new Collector<TaskDelivery>();
        const gotB = new Collector<TaskDelivery>();
        const subA = await a.consumeTasks({ namespaces: [ns], concurrency: 1 }, async (d) => gotA.push(d)); // never settles
        await a.dispatch(task(1));
        await gotA.waitFor(1, "first delivery");
        await b.consumeTasks({ namespaces: [ns], concurrency: 1 }, ackAll(gotB));
        await subA.stop();
        await gotB.waitFor(1, "redelivery to the other consumer");
        expect(gotB.items[0]!.message.dispatchId).toBe(gotA.items[0]!.message.dispatchId);
        expect(gotB.items[0]!.deliveryCount).toBe(2);
      });

      it(`${name} transport - keeps an unsettled delivery alive past several ack waits, so it is not redelivered`, async () => {
        const h = harness;
        const [a, b] = [await h.connectShortAckWait(), await h.connectShortAckWait()];
        open.push(a, b);
        const got = new Collector<TaskDelivery>();
        // The handler returns at once without settling: only the adapter's own keep-alive holds the message.
        const hold = async (d: TaskDelivery): Promise<void> => got.push(d);
        await a.consumeTasks({ namespaces: [ns], concurrency: 1 }, hold);
        await b.consumeTasks({ namespaces: [ns], concurrency: 1 }, hold);
        await a.dispatch(task(1));
        await got.waitFor(1, "delivery");
        await sleep(h.shortAckWaitMs * 3);
        expect(got.items.map((d) => d.deliveryCount)).toEqual([1]);
        await got.items[0]!.ack();
      }, 20_000);

      it(`${name} transport - counts and drops a malformed task; later tasks still arrive`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 2 }, ackAll(got));
        const before = t.stats().malformed;
        await harness.inject("task", { executor: `${ns}/work`, v: 99, runId: run, note: "not a task message" });
        await t.dispatch(task(1));
        await got.waitFor(1, "the valid task");
        await roundTrip(t);
        expect(got.items.map((d) => d.message.task)).toEqual(["t1"]);
        expect(t.stats().malformed).toBe(before + 1);
      });

      if (features.validates) {
        it(`${name} transport - carries task payloads as JSON (a Date arrives as its ISO string)`, async () => {
          const t = await connect();
          const got = new Collector<TaskDelivery>();
          await t.consumeTasks({ namespaces: [ns], concurrency: 1 }, ackAll(got));
          await t.dispatch(task(1, { input: { when: new Date(0), nested: [1, "two", null] } }));
          await got.waitFor(1, "delivery");
          expect(got.items[0]!.message.input).toEqual({ when: "1970-01-01T00:00:00.000Z", nested: [1, "two", null] });
        });

        it(`${name} transport - refuses to dispatch a task message that fails its schema`, async () => {
          const t = await connect();
          await expect(t.dispatch({ ...task(1), attempt: 0 })).rejects.toMatchObject({ code: "WIRE_MESSAGE_INVALID" });
        });
      } else {
        // The fast wire (embedded default) parses no message schema, but each delivery gets its
        // own copy of the payload, as a fleet worker parsing its message does: an executor that
        // changes its input never changes what the sender (the run's record) holds.
        it(`${name} transport - hands each delivery its own copy of the task payload`, async () => {
          const t = await connect();
          const got = new Collector<TaskDelivery>();
          await t.consumeTasks({ namespaces: [ns], concurrency: 1 }, ackAll(got));
          const input = { when: new Date(0), nested: [1, "two", null] };
          await t.dispatch(task(1, { input }));
          await got.waitFor(1, "delivery");
          const delivered = got.items[0]!.message.input as { nested: unknown[] };
          expect(delivered).not.toBe(input);
          expect(JSON.parse(JSON.stringify(delivered))).toEqual({ when: "1970-01-01T00:00:00.000Z", nested: [1, "two", null] });
          delivered.nested.push("changed by the executor");
          expect(input.nested).toEqual([1, "two", null]);
        });
      }
    });

    describeHistoryContract(ctx);
  });
}
