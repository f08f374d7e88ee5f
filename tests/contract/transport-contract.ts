/**
 * The transport contract: behaviour every Transport adapter (memory, NATS) must
 * share, so the coordinator and workers can rely on it whatever the wire.
 *
 * Use it from a `*.test.ts` file:
 *
 *   describeTransportContract("nats", async () => ({
 *     connect: async () => createNatsTransport({ servers, prefix }),   // a new connection each call
 *     injectMalformed: async (kind, raw) => { ... },                   // publish `raw` as-is on the wire
 *     cleanup: async () => { ... },                                    // delete streams, close helpers
 *   }));
 *
 * - `setup` runs before each test and `cleanup` after it; every connection made with
 *   `connect()` during a test is closed by the suite before `cleanup` runs.
 *   Connections of one setup must share queues, histories and broadcasts (one server).
 * - `injectMalformed(kind, raw)` puts `raw` (JSON) on the wire unchecked, where a
 *   message of that kind would go: a raw task carries `executor: "ns/name"` (route it
 *   to that namespace's tasks), a raw event carries `runId` (that run's events).
 *   Resolve once it is sent / stored.
 * - Ids are unique per test (namespaces, run ids), so setups may share one server.
 * - Every wait is on a handler call, with a generous safety timeout; before asserting
 *   that something did NOT arrive, a test makes a round trip through the transport.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ControlMessage, RunEvent, TaskMessage } from "../../src/transport/messages.js";
import type { TaskDelivery, Transport } from "../../src/transport/port.js";
import { Collector, makeEvent, makeTask, roundTrip, uniq } from "./contract-support.js";

export interface ContractHarness {
  /** A new connection (Transport) to the shared backend. */
  connect(): Promise<Transport>;
  /** Put a raw message on the wire, bypassing the adapter's own checks. */
  injectMalformed(kind: "task" | "event", raw: unknown): Promise<void>;
  cleanup(): Promise<void>;
}

export function describeTransportContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`transport contract (${name})`, () => {
    let harness: ContractHarness;
    let open: Transport[] = [];
    let run: string;
    let ns: string;

    const connect = async (): Promise<Transport> => {
      const t = await harness.connect();
      open.push(t);
      return t;
    };
    const task = (n: number | string, over: Partial<TaskMessage> = {}, namespace = ns): TaskMessage =>
      makeTask(`${namespace}/work`, run, `t${n}`, over);
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

      it(`${name} transport - never gives a consumer tasks of a namespace it did not ask for`, async () => {
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

      it(`${name} transport - drops a second dispatch with the same dispatchId`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 1 }, ackAll(got));
        await t.dispatch(task(1));
        await t.dispatch(task(1));
        await t.dispatch(task(2));
        await got.waitFor(2, "deliveries");
        await roundTrip(t);
        expect(got.items.map((d) => d.message.task)).toEqual(["t1", "t2"]);
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
        const seen = got.items.map((d) => `${d.message.task}#${d.deliveryCount}`).sort();
        expect(seen).toEqual(["t1#1", "t1#2", "t2#1", "t2#2"]);
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
    });

    describe("events", () => {
      it(`${name} transport - delivers events in publish order and keeps the whole history in order`, async () => {
        const [a, b, producer] = [await connect(), await connect(), await connect()];
        const gotA = new Collector<RunEvent>();
        const gotB = new Collector<RunEvent>();
        await a.subscribeEvents((e) => e.runId === run && gotA.push(e));
        await b.subscribeEvents((e) => e.runId === run && gotB.push(e));
        const events = Array.from({ length: 20 }, (_, i) => makeEvent(run, i));
        for (const e of events) await producer.publishEvent(e);
        await Promise.all([gotA.waitFor(20, "events"), gotB.waitFor(20, "events")]);
        expect(gotA.items).toEqual(events);
        expect(gotB.items).toEqual(events);
        expect(await a.readRunEvents(run)).toEqual(events);
        expect(await a.readRunEvents(`run_${uniq()}`)).toEqual([]);
      });

      it(`${name} transport - does not replay events published before subscribing`, async () => {
        const t = await connect();
        await t.publishEvent(makeEvent(run, 1));
        const got = new Collector<RunEvent>();
        await t.subscribeEvents((e) => e.runId === run && got.push(e));
        await t.publishEvent(makeEvent(run, 2));
        await got.waitFor(1, "event");
        await roundTrip(t);
        expect(got.items).toEqual([makeEvent(run, 2)]);
      });
    });

    describe("control", () => {
      it(`${name} transport - broadcasts a control message to every subscriber of every connection`, async () => {
        const [a, b, producer] = [await connect(), await connect(), await connect()];
        const got = [new Collector<ControlMessage>(), new Collector<ControlMessage>(), new Collector<ControlMessage>()] as const;
        await a.subscribeControl(got[0].push);
        await a.subscribeControl(got[1].push);
        await b.subscribeControl(got[2].push);
        const message: ControlMessage = { v: 1, type: "cancel.run", runId: run, reason: "contract" };
        await producer.publishControl(message);
        await Promise.all(got.map((c) => c.waitFor(1, "control message")));
        for (const c of got) expect(c.items).toEqual([message]);
      });
    });

    describe("malformed messages", () => {
      it(`${name} transport - counts and drops a malformed task; later tasks still arrive`, async () => {
        const t = await connect();
        const got = new Collector<TaskDelivery>();
        await t.consumeTasks({ namespaces: [ns], concurrency: 2 }, ackAll(got));
        const before = t.stats().malformed;
        await harness.injectMalformed("task", { executor: `${ns}/work`, v: 99, runId: run, note: "not a task message" });
        await t.dispatch(task(1));
        await got.waitFor(1, "the valid task");
        await roundTrip(t);
        expect(got.items.map((d) => d.message.task)).toEqual(["t1"]);
        expect(t.stats().malformed).toBe(before + 1);
      });

      it(`${name} transport - counts and drops a malformed event; later events still arrive`, async () => {
        const [t, reader] = [await connect(), await connect()];
        const got = new Collector<RunEvent>();
        await t.subscribeEvents((e) => e.runId === run && got.push(e));
        const before = t.stats().malformed;
        await harness.injectMalformed("event", { runId: run, type: "attempt.exploded", at: "yesterday" });
        await t.publishEvent(makeEvent(run, 1));
        await got.waitFor(1, "the valid event");
        expect(got.items).toEqual([makeEvent(run, 1)]);
        expect(t.stats().malformed).toBe(before + 1);
        expect(await reader.readRunEvents(run)).toEqual([makeEvent(run, 1)]);
      });
    });

    describe("close", () => {
      it(`${name} transport - rejects calls after close() with TRANSPORT_CLOSED`, async () => {
        const t = await connect();
        await t.close();
        await expect(t.dispatch(task(1))).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
        await expect(t.publishEvent(makeEvent(run, 1))).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
        await expect(t.subscribeEvents(() => undefined)).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
      });
    });
  });
}
