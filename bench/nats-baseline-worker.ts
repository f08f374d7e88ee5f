/**
 * The NATS bench's baseline worker: what a worker does with the raw client and no
 * engine. It pull-consumes task messages from a work-queue stream's durable
 * consumer (at most `concurrency` pulled and at most `concurrency` handled at once),
 * and for each one publishes a result message to `<results prefix>.<runId>` (awaiting
 * JetStream's PubAck, as a phaseflow worker awaits its report's) and then acks the task.
 * No schema checks, no events besides the result, no heartbeats.
 *
 * Usage (bench/nats-baseline.ts spawns two of these):
 *   node --import tsx bench/nats-baseline-worker.ts <url> <stream> <durable> <results-prefix> <concurrency>
 * Prints `{"msg":"baseline worker started"}` on stderr once it pulls; SIGTERM stops it.
 */
import { jetstream, type JsMsg } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

const [url, stream, durable, resultsPrefix, concurrencyArg] = process.argv.slice(2);
if (url === undefined || stream === undefined || durable === undefined || resultsPrefix === undefined || concurrencyArg === undefined) {
  process.stderr.write("usage: nats-baseline-worker.ts <url> <stream> <durable> <results-prefix> <concurrency>\n");
  process.exit(2);
}
const concurrency = Number(concurrencyArg);

const nc = await connect({ servers: url.split(","), name: `bench-baseline-worker ${process.pid}` });
const js = jetstream(nc);
const consumer = await js.consumers.get(stream, durable);
const messages = await consumer.consume({ max_messages: concurrency });

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const workerId = `baseline-${process.pid}`;
let free = concurrency;
let wake: (() => void) | undefined;
const inFlight = new Set<Promise<void>>();
let handled = 0;

interface TaskLike {
  runId: string;
  state: string;
  visit: number;
  task: string;
  attempt: number;
  dispatchId: string;
}

async function handle(m: JsMsg): Promise<void> {
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
  await js.publish(`${resultsPrefix}.${task.runId}`, encoder.encode(JSON.stringify(result)));
  m.ack();
  handled++;
}

process.once("SIGTERM", () => void messages.close());
process.stderr.write(`${JSON.stringify({ msg: "baseline worker started", pid: process.pid, concurrency })}\n`);

for await (const m of messages) {
  while (free === 0) await new Promise<void>((resolve) => (wake = resolve));
  free--;
  const p: Promise<void> = handle(m)
    .catch((err: unknown) => {
      process.stderr.write(`${JSON.stringify({ msg: "task failed", err: String(err) })}\n`);
      m.nak();
    })
    .finally(() => {
      inFlight.delete(p);
      free++;
      const w = wake;
      wake = undefined;
      w?.();
    });
  inFlight.add(p);
}
await Promise.allSettled([...inFlight]);
process.stderr.write(`${JSON.stringify({ msg: "baseline worker stopped", handled })}\n`);
await nc.drain();
