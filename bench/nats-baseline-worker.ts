/**
 * The NATS bench's baseline worker: a durable worker written as fast as the raw
 * client allows, with no engine. It consumes task messages from a work-queue
 * stream's durable pull consumer (`consume()` in callback mode, pull batches of
 * `concurrency`), handles at most `concurrency` at once (the rest wait in a local
 * FIFO), and for each one publishes a result message to `<results prefix>.<runId>`,
 * waits for JetStream's PubAck (the result is stored) and only then acks the task:
 * at-least-once, like a phaseflow worker's report before its ack.
 *
 * What it does not do, and a phaseflow worker does: validate the task message (it
 * only JSON-parses it), check a fencing token, send in-progress acks for long tasks,
 * keep a stall keeper, emit telemetry or logs, retry or fail a task. The connection
 * uses `noAsyncTraces` and PubAcks come through one wildcard subscription
 * (bench/lib/puback-mux.ts) instead of a request object per publish.
 *
 * Usage (bench/nats-baseline.ts spawns two of these):
 *   node --import tsx bench/nats-baseline-worker.ts <url> <stream> <durable> <results-prefix> <concurrency>
 * Prints `{"msg":"baseline worker started"}` on stderr once it pulls; SIGTERM stops it.
 */
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { pubAckMux } from "./lib/puback-mux.js";

const [url, stream, durable, resultsPrefix, concurrencyArg] = process.argv.slice(2);
if (url === undefined || stream === undefined || durable === undefined || resultsPrefix === undefined || concurrencyArg === undefined) {
  process.stderr.write("usage: nats-baseline-worker.ts <url> <stream> <durable> <results-prefix> <concurrency>\n");
  process.exit(2);
}
const concurrency = Number(concurrencyArg);

const nc = await connect({ servers: url.split(","), name: `bench-baseline-worker ${process.pid}`, noAsyncTraces: true });
const js = jetstream(nc);
const mux = pubAckMux(nc);
const consumer = await js.consumers.get(stream, durable);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const workerId = `baseline-${process.pid}`;
const waiting: JsMsg[] = [];
let head = 0;
let running = 0;
let handled = 0;
let stopping = false;
let idle: (() => void) | undefined;

interface TaskLike {
  runId: string;
  state: string;
  visit: number;
  task: string;
  attempt: number;
  dispatchId: string;
}

function handle(m: JsMsg): void {
  running++;
  const task = JSON.parse(decoder.decode(m.data)) as TaskLike;
  const startedAt = Date.now();
  const output = {}; // the no-op
  const result = {
    type: "attempt.succeeded",
    runId: task.runId,
    at: Date.now(),
    state: task.state,
    visit: task.visit,
    task: task.task,
    attempt: task.attempt,
    dispatchId: task.dispatchId,
    workerId,
    output,
    durationMs: Date.now() - startedAt,
  };
  mux.publish(`${resultsPrefix}.${task.runId}`, encoder.encode(JSON.stringify(result))).then(
    () => {
      m.ack();
      handled++;
      done();
    },
    (err: unknown) => {
      process.stderr.write(`${JSON.stringify({ msg: "task failed", err: String(err) })}\n`);
      m.nak();
      done();
    },
  );
}

function done(): void {
  running--;
  if (head < waiting.length) {
    const m = waiting[head]!;
    waiting[head++] = undefined as unknown as JsMsg;
    if (head === waiting.length) {
      waiting.length = 0;
      head = 0;
    }
    handle(m);
  } else if (running === 0) idle?.();
}

const messages = await consumer.consume({
  max_messages: concurrency,
  callback: (m) => {
    if (stopping) m.nak();
    else if (running < concurrency) handle(m);
    else waiting.push(m);
  },
});

process.once("SIGTERM", () => {
  stopping = true;
  void (async () => {
    await messages.close();
    for (let i = head; i < waiting.length; i++) waiting[i]!.nak();
    waiting.length = 0;
    head = 0;
    if (running > 0) await new Promise<void>((resolve) => (idle = resolve));
    process.stderr.write(`${JSON.stringify({ msg: "baseline worker stopped", handled })}\n`);
    mux.close();
    await nc.drain();
  })();
});
process.stderr.write(`${JSON.stringify({ msg: "baseline worker started", pid: process.pid, concurrency })}\n`);
