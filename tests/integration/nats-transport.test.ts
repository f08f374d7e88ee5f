// NATS-specific behaviour of the transport, on a real nats-server: infrastructure,
// isolation by prefix, payload limits, ack_wait / working() / redelivery, bounded
// prefetch, and surviving a server restart. The shared contract lives in
// tests/contract; this file covers what only the NATS adapter has.
import { AckPolicy, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { InfrastructureMismatchError, PayloadTooLargeError, TransportConnectError, UsageError } from "../../src/errors/base.js";
import { OptionsError } from "../../src/errors/options.js";
import type { Decision, Report, TaskMessage } from "../../src/transport/messages.js";
import { createNatsTransport, natsNames, typedKv, type NatsTransport, type NatsTransportOptions } from "../../src/transport/nats/index.js";
import type { TaskDelivery } from "../../src/transport/port.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

const url = inject("natsUrl");

/** A fresh prefix per test: streams, buckets and subjects of tests never meet. */
function uniquePrefix(): string {
  return `it${randomBytes(4).toString("hex")}`;
}

const open: NatsTransport[] = [];
const servers: NatsServer[] = [];
const prefixes: string[] = [];

async function transport(options: Partial<NatsTransportOptions> & { prefix: string }): Promise<NatsTransport> {
  const t = await createNatsTransport({ servers: url, ...options });
  open.push(t);
  if (!prefixes.includes(options.prefix) && options.servers === undefined) prefixes.push(options.prefix);
  return t;
}

let afterCleanup: (() => void) | undefined;

afterEach(async () => {
  afterCleanup?.();
  afterCleanup = undefined;
  await Promise.all(open.splice(0).map((t) => t.close()));
  // Drop this test's streams from the shared server.
  if (prefixes.length > 0) {
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    for (const p of prefixes.splice(0)) {
      const n = natsNames(p);
      for (const s of [n.streams.tasks, n.streams.events, `KV_${n.buckets.runs}`, `KV_${n.buckets.workers}`]) {
        await jsm.streams.delete(s).catch(() => undefined);
      }
    }
    await nc.close();
  }
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function task(overrides: Partial<TaskMessage> = {}): TaskMessage {
  const runId = overrides.runId ?? "run1";
  const state = overrides.state ?? "ingest";
  const name = overrides.task ?? "load";
  const attempt = overrides.attempt ?? 1;
  return {
    v: 2,
    runId,
    planHash: "h",
    workflow: "etl",
    state,
    visit: 1,
    task: name,
    attempt,
    dispatchId: `${runId}/${state}/1/${name}/${attempt}`,
    executor: "etl/load",
    idempotencyKey: `${runId}/${state}/1/${name}`,
    input: { n: 1 },
    parents: {},
    deadline: null,
    timeoutMs: null,
    dispatchedAt: 0,
    round: 0,
    epoch: 1,
    token: "token-0123456789abcdef",
    ...overrides,
  };
}

function cancelled(runId: string): Decision {
  return { v: 2, kind: "decision", runId, by: "c1", epoch: 1, through: 0, at: 0, events: [{ type: "run.cancelled", reason: "test" }] };
}

function report(runId: string, n = 0): Extract<Report, { type: "attempt.succeeded" }> {
  return { v: 2, kind: "report", type: "attempt.succeeded", runId, at: n, state: "s", visit: 1, task: "t", attempt: 1, dispatchId: `${runId}/s/1/t/1`, token: "token-0123456789abcdef", workerId: "w", output: n, durationMs: 0 };
}

/** A promise with its resolver, to wait on events instead of sleeping. */
function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe("nats transport - names and options", () => {
  it("nats transport - derives every stream, bucket and subject from the prefix", () => {
    const n = natsNames("x");
    expect(n.streams).toEqual({ tasks: "X_TASKS", events: "X_EVENTS" });
    expect(n.buckets).toEqual({ runs: "x_runs", workers: "x_workers" });
    expect(n.subjects.task("etl", "load")).toBe("x.task.etl.load");
    expect(n.subjects.namespaceTasks("etl")).toBe("x.task.etl.>");
    expect(n.subjects.decisions("run1")).toBe("x.evt.run1.d");
    expect(n.subjects.reports("run1")).toBe("x.evt.run1.r");
    expect(n.subjects.history("run1")).toBe("x.evt.run1.*");
    expect(n.subjects.live("run1")).toBe("x.live.run1");
    expect(n.subjects.control).toBe("x.ctl");
    expect(n.subjects.api("run.start")).toBe("x.api.run.start");
    expect(n.namespaceConsumer("etl")).toBe("x_ns_etl");
    // Priority levels: 3 keeps the plain subject and consumer; the others get their own.
    expect(n.subjects.task("etl", "load", 3)).toBe("x.task.etl.load");
    expect(n.subjects.task("etl", "load", 1)).toBe("x.task.etl.load.p1");
    expect(n.subjects.levelTasks("etl", 3)).toBe("x.task.etl.*");
    expect(n.subjects.levelTasks("etl", 5)).toBe("x.task.etl.*.p5");
    expect(n.levelConsumer("etl", 3)).toBe("x_ns_etl");
    expect(n.levelConsumer("etl", 2)).toBe("x_ns_etl_p2");
  });

  it("nats transport - rejects a prefix or token that is not subject-safe", async () => {
    expect(() => natsNames("a.b")).toThrow(UsageError);
    expect(() => natsNames("pf").subjects.reports("run.1")).toThrow(/run id "run.1"/);
    await expect(createNatsTransport({ servers: url, prefix: "Bad*" })).rejects.toBeInstanceOf(OptionsError);
    await expect(createNatsTransport({ prefix: "pf" })).rejects.toThrow(/servers/);
  });
});

describe("nats transport - infrastructure", () => {
  it("nats transport - creating the infrastructure twice is idempotent", async () => {
    const prefix = uniquePrefix();
    const a = await transport({ prefix });
    const b = await transport({ prefix });
    await b.ensureInfrastructure();
    const info = await a.jsm.streams.info(a.names.streams.tasks);
    expect(info.config.retention).toBe(RetentionPolicy.Workqueue);
    expect(info.config.storage).toBe(StorageType.File);
    expect(info.config.subjects).toEqual([`${prefix}.task.>`]);
    const events = await a.jsm.streams.info(a.names.streams.events);
    expect(events.config.retention).toBe(RetentionPolicy.Limits);
    expect((await a.buckets.workers.status()).ttl).toBe(60_000);

    const got = signal<TaskMessage>();
    await b.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      await d.ack();
      got.resolve(d.message);
    });
    await a.dispatch(task());
    expect((await got.promise).dispatchId).toBe("run1/ingest/1/load/1");

    // A worker started with other ack settings updates the shared namespace consumer.
    const c = await transport({ prefix, ackWaitMs: 2000, maxDeliver: 3 });
    await c.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => d.ack());
    const consumer = await c.jsm.consumers.info(c.names.streams.tasks, c.names.namespaceConsumer("etl"));
    expect(consumer.config.ack_wait).toBe(2000 * 1_000_000);
    expect(consumer.config.max_deliver).toBe(3);
    expect(consumer.config.filter_subject).toBe(`${prefix}.task.etl.*`);
  });

  it("nats transport - a namespace consumer from before priority levels is replaced, and its waiting task still delivered", async () => {
    const prefix = uniquePrefix();
    const a = await transport({ prefix });
    // The old layout: one consumer over every task subject of the namespace.
    await a.jsm.consumers.add(a.names.streams.tasks, { durable_name: a.names.namespaceConsumer("etl"), filter_subject: `${prefix}.task.etl.>`, ack_policy: AckPolicy.Explicit });
    await a.dispatch(task());
    const got = signal<TaskMessage>();
    await a.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      await d.ack();
      got.resolve(d.message);
    });
    expect((await got.promise).dispatchId).toBe("run1/ingest/1/load/1");
    expect((await a.jsm.consumers.info(a.names.streams.tasks, a.names.namespaceConsumer("etl"))).config.filter_subject).toBe(`${prefix}.task.etl.*`);
  });

  it("nats transport - a worker takes priority 1 first, FIFO within a priority, also for tasks queued before it", async () => {
    const prefix = uniquePrefix();
    const a = await transport({ prefix });
    const b = await transport({ prefix });
    // A backlog: six of priority 5, two of the default 3, then two of priority 1, all stored before any worker pulls.
    for (let i = 1; i <= 6; i++) await a.dispatch(task({ runId: `low${i}`, priority: 5 }));
    for (let i = 1; i <= 2; i++) await a.dispatch(task({ runId: `mid${i}` }));
    for (let i = 1; i <= 2; i++) await a.dispatch(task({ runId: `high${i}`, priority: 1 }));
    const order: string[] = [];
    const all = signal<void>();
    await b.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      order.push(d.message.runId);
      // A priority-2 task arrives while the first one runs: it goes before the backlog of 3 and 5.
      if (order.length === 1) await a.dispatch(task({ runId: "late2", priority: 2 }));
      await d.ack();
      if (order.length === 11) all.resolve();
    });
    await all.promise;
    expect(order).toEqual(["high1", "high2", "late2", "mid1", "mid2", "low1", "low2", "low3", "low4", "low5", "low6"]);
  });

  it("nats transport - an idle worker hears new work at every level at once", async () => {
    const prefix = uniquePrefix();
    const a = await transport({ prefix });
    const b = await transport({ prefix });
    const got: string[] = [];
    let next = signal<void>();
    await b.consumeTasks({ namespaces: ["etl"], concurrency: 2 }, async (d) => {
      got.push(d.message.runId);
      await d.ack();
      next.resolve();
    });
    for (const priority of [5, 1, 3, 2, 4]) {
      next = signal<void>();
      await a.dispatch(task({ runId: `p${priority}`, priority }));
      await next.promise;
    }
    expect(got).toEqual(["p5", "p1", "p3", "p2", "p4"]);
  });

  it("nats transport - an unreachable server is reported with its URL and how to start one", async () => {
    const gone = await startNatsServer();
    await gone.stop();
    const err = await createNatsTransport({ servers: gone.url, prefix: uniquePrefix() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportConnectError);
    expect(err).toMatchObject({ code: "NATS_CONNECT_FAILED" });
    expect((err as Error).message).toContain(gone.url);
    expect((err as Error).message).toContain("nats-server -js");
  });

  it("nats transport - an incompatible existing stream is reported with its name, field, values and fix", async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const names = natsNames(prefix);
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: names.streams.tasks, subjects: [names.subjects.tasks], retention: RetentionPolicy.Limits, storage: StorageType.File });
    await nc.close();

    const err = await createNatsTransport({ servers: url, prefix }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureMismatchError);
    const mismatch = err as InfrastructureMismatchError;
    expect(mismatch.code).toBe("NATS_INFRASTRUCTURE_MISMATCH");
    expect(mismatch.resource).toBe(`stream "${names.streams.tasks}"`);
    expect(mismatch.field).toBe("retention");
    expect(mismatch.message).toContain('"limits"');
    expect(mismatch.message).toContain('"workqueue"');
    expect(mismatch.message).toContain("--prefix");
  });

  it("nats transport - an events stream on memory storage is reported", async () => {
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const names = natsNames(prefix);
    const nc = await connect({ servers: url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: names.streams.events, subjects: [names.subjects.events], retention: RetentionPolicy.Limits, storage: StorageType.Memory });
    await nc.close();

    await expect(createNatsTransport({ servers: url, prefix })).rejects.toMatchObject({
      code: "NATS_INFRASTRUCTURE_MISMATCH",
      resource: `stream "${names.streams.events}"`,
      field: "storage",
    });
  });
});

describe("nats transport - isolation and limits", () => {
  it("nats transport - two prefixes on one server do not see each other's tasks or events", async () => {
    const a = await transport({ prefix: uniquePrefix() });
    const b = await transport({ prefix: uniquePrefix() });
    const seen = { a: [] as string[], b: [] as string[] };
    const events = { a: [] as string[], b: [] as string[] };
    const bothTasks = signal();
    const bothEvents = signal();
    const check = (): void => {
      if (seen.a.length > 0 && seen.b.length > 0) bothTasks.resolve();
      if (events.a.length > 0 && events.b.length > 0) bothEvents.resolve();
    };
    for (const [key, t] of [["a", a], ["b", b]] as const) {
      await t.consumeTasks({ namespaces: ["etl"], concurrency: 4 }, async (d) => {
        seen[key].push(d.message.runId);
        await d.ack();
        check();
      });
      for (const run of ["runA", "runB"]) {
        await t.subscribeReports(run, 0, (_, r) => {
          events[key].push(r.runId);
          check();
        });
      }
    }
    await a.dispatch(task({ runId: "runA" }));
    await a.publishReport(report("runA"));
    await b.dispatch(task({ runId: "runB" }));
    await b.publishReport(report("runB"));
    await bothTasks.promise;
    await bothEvents.promise;
    expect(seen).toEqual({ a: ["runA"], b: ["runB"] });
    expect(events).toEqual({ a: ["runA"], b: ["runB"] });
    expect(await b.readHistory("runA")).toEqual({ messages: [], lastDecisionSeq: 0 });
    expect((await a.readHistory("runA")).messages.map((m) => m.message)).toEqual([report("runA")]);
  });

  it("nats transport - a task input over the server's max payload travels as a payload reference; one over maxPayload is refused naming the task and the option", async () => {
    const t = await transport({ prefix: uniquePrefix(), maxPayload: 2 * 1024 * 1024 });
    const max = t.connection.info?.max_payload ?? 1024 * 1024;
    await t.dispatch(task({ input: "x".repeat(max + 1) }));
    const err = await t.dispatch(task({ input: "x".repeat(2 * 1024 * 1024 + 1), dispatchId: "other" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect((err as PayloadTooLargeError).code).toBe("PAYLOAD_TOO_LARGE");
    expect((err as Error).message).toContain('task "ingest/load"');
    expect((err as Error).message).toContain('run "run1"');
    expect((err as Error).message).toContain("maxPayload");
    const got = signal<string>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      expect(d.payloadRefs).toBe(true);
      got.resolve(await t.payloads.resolve(d.message.input as string));
      await d.ack();
    });
    expect(await got.promise).toHaveLength(max + 1);
  });

  it("nats transport - a re-published dispatchId is delivered once", async () => {
    const t = await transport({ prefix: uniquePrefix() });
    await t.dispatch(task());
    await t.dispatch(task());
    await t.dispatch(task({ task: "last", dispatchId: "last" }));
    const received: string[] = [];
    const done = signal();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      received.push(d.message.dispatchId);
      await d.ack();
      if (d.message.dispatchId === "last") done.resolve();
    });
    await done.promise;
    expect(received).toEqual(["run1/ingest/1/load/1", "last"]);
  });
});

describe("nats transport - events", () => {
  it("nats transport - reads a run's whole history in order across several pulls", async () => {
    const t = await transport({ prefix: uniquePrefix() });
    const last = await t.appendDecision(cancelled("long"), 0);
    for (let i = 0; i < 1200; i++) await t.publishReport(report("long", i));
    await t.appendDecision(cancelled("other"), 0);
    const history = await t.readHistory("long");
    expect(history.messages).toHaveLength(1201);
    expect(history.lastDecisionSeq).toBe(last);
    expect(history.messages.slice(1).map((m) => m.message.at)).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    expect(await t.readHistory("nothing-here")).toEqual({ messages: [], lastDecisionSeq: 0 });
  });
});

describe("nats transport - delivery", () => {
  it("nats transport - a worker holds no more tasks than its concurrency, so others get the rest", async () => {
    const prefix = uniquePrefix();
    const busy = await transport({ prefix });
    const idle = await transport({ prefix });
    const release = signal();
    const busyGotOne = signal();
    let busyCount = 0;
    await busy.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      busyCount++;
      busyGotOne.resolve();
      await release.promise;
      await d.ack();
    });
    await busy.dispatch(task({ task: "t0", dispatchId: "t0" }));
    await busyGotOne.promise;
    for (let i = 1; i <= 4; i++) await busy.dispatch(task({ task: `t${i}`, dispatchId: `t${i}` }));

    const others = new Set<string>();
    const allFour = signal();
    await idle.consumeTasks({ namespaces: ["etl"], concurrency: 8 }, async (d) => {
      others.add(d.message.dispatchId);
      await d.ack();
      if (others.size === 4) allFour.resolve();
    });
    // With the default 30 s ack_wait, a worker that prefetched would make this wait time out.
    await allFour.promise;
    expect([...others].sort()).toEqual(["t1", "t2", "t3", "t4"]);
    expect(busyCount).toBe(1);
    release.resolve();
  });

  it("nats transport - a long handler kept alive by working() is not redelivered", async () => {
    const prefix = uniquePrefix();
    const a = await transport({ prefix, ackWaitMs: 1000 });
    const b = await transport({ prefix, ackWaitMs: 1000 });
    const deliveries: number[] = [];
    const done = signal();
    const handler = async (d: TaskDelivery): Promise<void> => {
      deliveries.push(d.deliveryCount);
      // Three ack_waits long: only the automatic working() keeps it from being redelivered to the idle worker.
      await sleep(3000);
      await d.ack();
      done.resolve();
    };
    await a.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, handler);
    await b.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, handler);
    await a.dispatch(task());
    await done.promise;
    // Acks are not confirmed one by one (no round trip per task): the server takes it a moment later.
    await expect.poll(async () => (await a.jsm.consumers.info(a.names.streams.tasks, a.names.namespaceConsumer("etl"))).num_ack_pending).toBe(0);
    expect(deliveries).toEqual([1]);
  });

  it("nats transport - a task held by a worker whose connection died is redelivered after ack_wait", async () => {
    const prefix = uniquePrefix();
    const crashing = await transport({ prefix, ackWaitMs: 1000 });
    const survivor = await transport({ prefix, ackWaitMs: 1000 });
    const first = signal();
    await crashing.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async () => first.resolve()); // never settles
    await crashing.dispatch(task());
    await first.promise;
    // A crash: no nak, and the automatic working() stops with the connection.
    await crashing.connection.close();
    const second = signal<number>();
    await survivor.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      await d.ack();
      second.resolve(d.deliveryCount);
    });
    expect(await second.promise).toBe(2);
  });

  it("nats transport - a stopped worker's pending pull does not swallow tasks meant for the next worker", async () => {
    const prefix = uniquePrefix();
    const first = await transport({ prefix });
    const sub = await first.consumeTasks({ namespaces: ["etl"], concurrency: 4 }, async (d) => {
      await d.ack();
    });
    // Stop only once its pull request is waiting on the server.
    const consumerInfo = () => first.jsm.consumers.info(first.names.streams.tasks, first.names.namespaceConsumer("etl"));
    while ((await consumerInfo()).num_waiting < 1) await sleep(20);
    await sub.stop();
    const second = await transport({ prefix });
    const got = signal<string>();
    await second.consumeTasks({ namespaces: ["etl"], concurrency: 1 }, async (d) => {
      await d.ack();
      got.resolve(d.message.dispatchId);
    });
    await first.dispatch(task());
    // Lost to the stopped pull, it would only come back after the 30 s ack_wait, past this test's timeout.
    expect(await got.promise).toBe("run1/ingest/1/load/1");
  });

  it("nats transport - a malformed task message is counted and terminated, the next one still runs", async () => {
    const t = await transport({ prefix: uniquePrefix() });
    t.connection.publish(t.names.subjects.task("etl", "load"), "{not json");
    await t.js.publish(t.names.subjects.task("etl", "load"), JSON.stringify({ v: 2, runId: "" }));
    await t.dispatch(task());
    const ok = signal<TaskMessage>();
    await t.consumeTasks({ namespaces: ["etl"], concurrency: 2 }, async (d) => {
      await d.ack();
      ok.resolve(d.message);
    });
    expect((await ok.promise).runId).toBe("run1");
    expect(t.stats().malformed).toBeGreaterThanOrEqual(1);
    // Terms and acks are not confirmed by the server: the stream empties shortly after.
    await expect.poll(async () => (await t.jsm.streams.info(t.names.streams.tasks)).state.messages, { timeout: 30_000, interval: 50 }).toBe(0);
  });
});

describe("nats transport - coordinator handles", () => {
  it("nats transport - typed KV buckets validate values and compare-and-set on revisions", async () => {
    const t = await transport({ prefix: uniquePrefix() });
    const runs = typedKv(t.buckets.runs, z.object({ status: z.string() }), t.options.logger, t.names.buckets.runs);
    const rev = await runs.create("run1", { status: "pending" });
    expect(await runs.get("run1")).toEqual({ key: "run1", value: { status: "pending" }, revision: rev });
    const next = await runs.update("run1", { status: "running" }, rev);
    await expect(runs.update("run1", { status: "lost update" }, rev)).rejects.toThrow();
    expect((await runs.get("run1"))?.revision).toBe(next);
    await expect(runs.put("run1", { status: 1 } as unknown as { status: string })).rejects.toMatchObject({ code: "WIRE_MESSAGE_INVALID" });
    await t.buckets.runs.put("garbage", "{not json");
    expect(await runs.get("garbage")).toBeUndefined();
    expect(await runs.get("missing")).toBeUndefined();
    expect((await runs.keys()).sort()).toEqual(["garbage", "run1"]);
  });

  it("nats transport - one consumer serves several namespaces", async () => {
    const t = await transport({ prefix: uniquePrefix() });
    const seen = new Set<string>();
    const all = signal();
    await t.consumeTasks({ namespaces: ["etl", "ml", "etl"], concurrency: 2 }, async (d) => {
      seen.add(d.message.executor);
      await d.ack();
      if (seen.size === 2) all.resolve();
    });
    await t.dispatch(task({ executor: "ml/train", dispatchId: "m" }));
    await t.dispatch(task({ executor: "etl/load", dispatchId: "e" }));
    await all.promise;
    expect([...seen].sort()).toEqual(["etl/load", "ml/train"]);
  });

  it("nats transport - control messages reach subscribers; malformed ones are counted", async () => {
    const t = await transport({ prefix: uniquePrefix() });
    const got = signal<string>();
    await t.subscribeControl((m) => got.resolve(m.type));
    t.connection.publish(t.names.subjects.control, "nonsense");
    await t.publishControl({ v: 2, type: "cancel.attempt", runId: "run1", dispatchId: "d", reason: "timeout" });
    expect(await got.promise).toBe("cancel.attempt");
    expect(t.stats().malformed).toBe(1);
  });
});

describe("nats transport - server restart", () => {
  it(
    "nats transport - a server restart mid-consumption loses no persisted task and the consumer continues",
    async () => {
      const server = await startNatsServer();
      servers.push(server);
      const t = await createNatsTransport({ servers: server.url, prefix: "crash", ackWaitMs: 2000 });
      open.push(t);
      const ids = Array.from({ length: 20 }, (_, i) => `before${i}`);
      for (const id of ids) await t.dispatch(task({ task: id, dispatchId: id }));

      const received = new Set<string>();
      const fiveDone = signal();
      const restarted = signal();
      const waiters: { id: string; resolve: () => void }[] = [];
      const waitFor = (id: string): Promise<void> =>
        received.has(id) ? Promise.resolve() : new Promise((resolve) => waiters.push({ id, resolve }));
      let started = 0;
      afterCleanup = () => restarted.resolve(); // never leave handlers blocked, even when an assertion fails
      await t.consumeTasks({ namespaces: ["etl"], concurrency: 2 }, async (d) => {
        // Let five attempts finish; hold the next ones in flight until the server has crashed and come back.
        if (++started > 5) await restarted.promise;
        await d.ack(); // may fail across the crash: then the task is redelivered
        received.add(d.message.dispatchId);
        if (received.size === 5) fiveDone.resolve();
        for (const w of waiters.filter((x) => received.has(x.id))) w.resolve();
      });
      await fiveDone.promise;
      const liveEvents: string[] = [];
      const eventAfterRestart = signal();
      await t.subscribeReports("crashrun", 0, (_, r) => {
        liveEvents.push(String(r.at));
        if (r.at === 2) eventAfterRestart.resolve();
      });
      await t.publishReport(report("crashrun", 1));

      const reconnected = signal();
      void (async () => {
        for await (const s of t.connection.status()) if (s.type === "reconnect") reconnected.resolve();
      })();
      await server.restart({ signal: "SIGKILL" });
      await reconnected.promise;
      expect(received.size).toBe(5);
      restarted.resolve();

      const after = ["after0", "after1", "after2"];
      for (const id of after) await t.dispatch(task({ task: id, dispatchId: id }));
      await Promise.all([...ids, ...after].map(waitFor));
      expect([...ids, ...after].every((id) => received.has(id))).toBe(true);
      await t.publishReport(report("crashrun", 2));
      await eventAfterRestart.promise;
      expect(liveEvents).toEqual(["1", "2"]);
      expect((await t.readHistory("crashrun")).messages.map((m) => m.message.kind)).toEqual(["report", "report"]);
    },
    60_000,
  );
});
