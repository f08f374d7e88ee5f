/**
 * The NATS bench's baseline: the same messaging as a phaseflow run, with no engine.
 * A dispatcher (this process) publishes task messages shaped and sized like
 * phaseflow's to a work-queue JetStream stream (with a `Nats-Msg-Id`, as phaseflow
 * does); separate worker processes (bench/nats-baseline-worker.ts) pull them, publish
 * a result message each to a results stream and ack; the dispatcher reads the
 * results through an ordered consumer. Wide: every task published at once, done when
 * every result is in. Chain: task k+1 is published only after result k arrived.
 *
 * Each deployment gets its own stream, consumer and subject names (`<id>`), so it
 * shares nothing with phaseflow's streams or another deployment on the server.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from "@nats-io/jetstream";
import { connect, nanos } from "@nats-io/transport-node";
import { defaultIdGenerator } from "../src/support/clock.js";
import { dispatchIdOf, idempotencyKeyOf, WIRE_VERSION, type TaskMessage } from "../src/transport/messages.js";
import { withTimeout } from "./lib/deadline.js";
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

  const nc = await connect({ servers: url.split(","), name: "bench-baseline-dispatcher" });
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

  /** An ordered consumer of one run's results, ready before anything is published; `next()` resolves with the next result. */
  const results = async (runId: string) => {
    const consumer = await js.consumers.get(resultsStream, { filter_subjects: `${resultsPrefix}.${runId}`, deliver_policy: DeliverPolicy.All });
    const queue: JsMsg[] = [];
    let waiter: ((m: JsMsg) => void) | undefined;
    const messages = await consumer.consume({
      callback: (m) => {
        const w = waiter;
        waiter = undefined;
        if (w) w(m);
        else queue.push(m);
      },
    });
    return {
      next: (): Promise<JsMsg> => {
        const m = queue.shift();
        return m ? Promise.resolve(m) : new Promise<JsMsg>((resolve) => (waiter = resolve));
      },
      close: async () => {
        await messages.close();
        await consumer.delete().catch(() => undefined);
      },
    };
  };
  const publish = async (task: TaskMessage): Promise<void> => {
    await js.publish(taskSubject, encoder.encode(JSON.stringify(task)), { msgID: task.dispatchId });
  };

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
            await Promise.all(messages.map(publish));
            for (let got = 0; got < tasks; got++) await res.next();
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
      await nc.drain();
    },
  };
}
