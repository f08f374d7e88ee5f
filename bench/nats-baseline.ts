/**
 * The NATS bench's baseline: phaseflow's durable messaging written as fast as the raw
 * NATS client allows, with no engine. A dispatcher (this process) publishes task
 * messages shaped and sized like phaseflow's to a work-queue JetStream stream (with a
 * `Nats-Msg-Id`, as phaseflow does) and waits for each PubAck; separate worker
 * processes (bench/nats-baseline-worker.ts) pull them, store a result message each in
 * a results stream, wait for its PubAck and only then ack the task; the dispatcher
 * reads the results through an ordered consumer. Two stored messages per task, the
 * budget phaseflow has. Wide: every task published at once, done when every result
 * is in. Chain: task k+1 is published only after result k arrived.
 *
 * Made fast the way a user tuning the raw client would: `noAsyncTraces` on every
 * connection; PubAcks through one wildcard subscription per connection
 * (bench/lib/puback-mux.ts) instead of a request object, timer and error per
 * publish; the workers consume in callback mode with pull batches of their
 * concurrency; the dispatcher's ordered consumer pulls batches of 1,000 and counts
 * results instead of parsing them (wide; the chain parses each to check it is the
 * result of the task it sent).
 *
 * What it does not do, and phaseflow does: decide anything (no plan, no state
 * machine, no dataflow), validate messages, fence stale workers with tokens, keep
 * tasks alive while they run, retry, time out, write run summaries, history or
 * telemetry. So it is the floor of the messaging, not a competing engine.
 *
 * Each deployment gets its own stream, consumer and subject names (`<id>`), so it
 * shares nothing with phaseflow's streams or another deployment on the server.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { defaultIdGenerator } from "../src/support/clock.js";
import { dispatchIdOf, idempotencyKeyOf, WIRE_VERSION, type TaskMessage } from "../src/transport/messages.js";
import { withTimeout } from "./lib/deadline.js";
import { pubAckMux } from "./lib/puback-mux.js";
import { spawnScript, type ScriptProcess } from "./lib/node-script.js";
import { NOOP_EXECUTOR } from "./lib/workflows.js";

export interface BaselineOptions {
  /** Server URL(s), comma-separated (a cluster's nodes). */
  url: string;
  /** Replicas of the tasks and results streams. Default 1. */
  replicas?: number;
  /** Lower-case name part of every stream, consumer and subject of this deployment. */
  id: string;
  /** Worker processes. */
  workers: number;
  /** Most tasks each worker pulls and handles at once. */
  concurrency: number;
  /** Plan hash to put in task messages (phaseflow's, for the same size). */
  planHash: string;
}

export interface BaselineDeployment {
  /** Bytes of one task message of a wide run (JSON). */
  readonly taskBytes: number;
  /** PIDs of the worker processes. */
  readonly workerPids: readonly number[];
  /** Publish `tasks` task messages at once; ms until every result is in. */
  wide(tasks: number, timeoutMs: number): Promise<number>;
  /** Publish `steps` tasks one after the other, each after the previous result; ms for all. */
  chain(steps: number, timeoutMs: number): Promise<number>;
  /** The last sequence of the tasks and results streams: deltas around a run count what it stored. */
  lastSeqs(): Promise<{ tasks: number; results: number }>;
  /** Stop the workers, delete the streams, close the connection. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A task message as phaseflow's coordinator would build it for task `t<index>` of state `state`. */
export function baselineTask(runId: string, planHash: string, workflow: string, state: string, index: number): TaskMessage {
  const task = `t${index}`;
  return {
    v: WIRE_VERSION,
    runId,
    planHash,
    workflow,
    state,
    visit: 1,
    task,
    attempt: 1,
    dispatchId: dispatchIdOf(runId, state, 1, task, 1),
    executor: NOOP_EXECUTOR,
    idempotencyKey: idempotencyKeyOf(runId, state, 1, task, 0),
    input: {},
    parents: {},
    deadline: null,
    timeoutMs: null,
    dispatchedAt: Date.now(),
    round: 0,
    epoch: 1,
    token: "bench-token-0123456789abcd",
  };
}

/**
 * Create the streams and the workers' consumer, and start the worker processes.
 * @example
 * const base = await startBaseline({ url, id: "bb1", workers: 2, concurrency: 16, planHash });
 * const ms = await base.wide(10_000, 120_000);
 * await base.close();
 */
export async function startBaseline(options: BaselineOptions): Promise<BaselineDeployment> {
  const { url, id, planHash } = options;
  const upper = id.toUpperCase();
  const tasksStream = `${upper}_TASKS`;
  const resultsStream = `${upper}_RESULTS`;
  const durable = `${id}_workers`;
  const taskSubject = `${id}.task.bench.noop`;
  const resultsPrefix = `${id}.res`;

  const nc = await connect({ servers: url.split(","), name: "bench-baseline-dispatcher", noAsyncTraces: true });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const common = { storage: StorageType.File, discard: DiscardPolicy.Old, duplicate_window: nanos(2 * 60_000), num_replicas: options.replicas ?? 1 };
  await jsm.streams.add({ ...common, name: tasksStream, subjects: [`${id}.task.>`], retention: RetentionPolicy.Workqueue });
  await jsm.streams.add({ ...common, name: resultsStream, subjects: [`${resultsPrefix}.>`], retention: RetentionPolicy.Limits });
  await jsm.consumers.add(tasksStream, {
    durable_name: durable,
    filter_subject: `${id}.task.>`,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(30_000),
    max_deliver: 5,
  });

  const workers: ScriptProcess[] = [];
  try {
    for (let i = 0; i < options.workers; i++) {
      workers.push(spawnScript("bench/nats-baseline-worker.ts", [url, tasksStream, durable, resultsPrefix, String(options.concurrency)]));
    }
    await Promise.all(workers.map((w) => w.waitForLog("baseline worker started")));
  } catch (err) {
    await Promise.all(workers.map((w) => w.stop()));
    await nc.close();
    throw err;
  }

  const mux = pubAckMux(nc);

  /**
   * An ordered consumer of one run's results, ready before anything is published:
   * `next()` resolves with the next result (chain), `count(n)` once `n` results are in (wide).
   */
  const results = async (runId: string) => {
    const consumer = await js.consumers.get(resultsStream, { filter_subjects: `${resultsPrefix}.${runId}`, deliver_policy: DeliverPolicy.All });
    const queue: JsMsg[] = [];
    let head = 0;
    let seen = 0;
    let waiter: ((m: JsMsg) => void) | undefined;
    let target = Infinity;
    let reached: (() => void) | undefined;
    const messages = await consumer.consume({
      max_messages: 1_000,
      callback: (m) => {
        seen++;
        if (seen >= target) reached?.();
        if (target !== Infinity) return; // counting only
        const w = waiter;
        waiter = undefined;
        if (w) w(m);
        else queue.push(m);
      },
    });
    return {
      next: (): Promise<JsMsg> => {
        if (head < queue.length) {
          const m = queue[head]!;
          queue[head++] = undefined as unknown as JsMsg;
          return Promise.resolve(m);
        }
        return new Promise<JsMsg>((resolve) => (waiter = resolve));
      },
      count: (n: number): Promise<void> => {
        target = n;
        return seen >= n ? Promise.resolve() : new Promise<void>((resolve) => (reached = resolve));
      },
      close: async () => {
        await messages.close();
        await consumer.delete().catch(() => undefined);
      },
    };
  };
  const publish = (task: TaskMessage): Promise<void> => mux.publish(taskSubject, encoder.encode(JSON.stringify(task)), task.dispatchId);

  return {
    workerPids: workers.map((w) => w.pid),
    taskBytes: encoder.encode(JSON.stringify(baselineTask(defaultIdGenerator(), planHash, "bench-wide-10000", "wide", 9999))).byteLength,

    async wide(tasks, timeoutMs) {
      const runId = defaultIdGenerator();
      const res = await results(runId);
      try {
        const t0 = performance.now();
        const messages = Array.from({ length: tasks }, (_, i) => baselineTask(runId, planHash, `bench-wide-${tasks}`, "wide", i));
        await withTimeout(
          (async () => {
            const all = res.count(tasks);
            await Promise.all(messages.map(publish));
            await all;
          })(),
          timeoutMs,
          `baseline wide run of ${tasks} tasks`,
        );
        return performance.now() - t0;
      } finally {
        await res.close();
      }
    },

    async chain(steps, timeoutMs) {
      const runId = defaultIdGenerator();
      const res = await results(runId);
      try {
        const t0 = performance.now();
        await withTimeout(
          (async () => {
            for (let k = 0; k < steps; k++) {
              const task = baselineTask(runId, planHash, `bench-chain-${steps}`, "chain", k);
              await publish(task);
              const result = await res.next();
              const got = (JSON.parse(decoder.decode(result.data)) as { dispatchId?: string }).dispatchId;
              if (got !== task.dispatchId) throw new Error(`baseline chain step ${k}: expected the result of ${task.dispatchId}, got ${got}`);
            }
          })(),
          timeoutMs,
          `baseline chain of ${steps} steps`,
        );
        return performance.now() - t0;
      } finally {
        await res.close();
      }
    },

    async lastSeqs() {
      const [t, r] = await Promise.all([jsm.streams.info(tasksStream), jsm.streams.info(resultsStream)]);
      return { tasks: t.state.last_seq, results: r.state.last_seq };
    },

    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await jsm.streams.delete(tasksStream).catch(() => undefined);
      await jsm.streams.delete(resultsStream).catch(() => undefined);
      mux.close();
      await nc.drain();
    },
  };
}
