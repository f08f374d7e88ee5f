/**
 * `phaseflow worker --nats URL <executor modules...>`: a worker process. It serves
 * every executor the modules register, heartbeats into the workers bucket, and on
 * SIGTERM/SIGINT stops taking tasks, lets in-flight ones finish (or hands them back
 * near the end of --drain-timeout), drains the connection and exits 0. It exits within
 * --drain-timeout even when NATS is unreachable (then with 1); a second signal exits at once.
 */
import { UsageError } from "../../errors/base.js";
import { startNatsWorker } from "../../fleet/worker-service.js";
import { createLogger } from "../../support/logger.js";
import { defineCommand } from "../command.js";
import { EXIT_FAILED, EXIT_OK } from "../exit-codes.js";
import { loadRegistries } from "../load-module.js";
import { NATS_FLAGS, natsOptionsFrom, untilSignal } from "../nats-flags.js";
import { closeWithin } from "../shutdown.js";

export const workerCommand = defineCommand({
  name: "worker",
  summary: "Run a worker: take tasks from NATS and run them with the executors of the given modules",
  usage: "--nats URL [--concurrency N] [--no-stray-guard] <executor modules...>",
  details: "Each module exports a registry (createRegistry()). Logs are pino JSON lines on stderr.",
  flags: {
    ...NATS_FLAGS,
    concurrency: { type: "string", valueName: "N", description: "most tasks run at once (default 4)" },
    id: { type: "string", valueName: "ID", description: "worker id (default <host>-<pid>-<random>)" },
    "ack-wait": { type: "string", valueName: "MS", description: "how long NATS waits for a task's ack before redelivering it to another worker (default 30000; kept alive while the task runs)" },
    "max-deliver": { type: "string", valueName: "N", description: "deliveries of one task before it counts as a failed attempt (default 5)" },
    "no-stray-guard": { type: "boolean", description: "do not catch executors' stray errors (a throw from a timer or callback, a promise rejected with no handler): Node's default then ends the worker on one. Saves the promise hooks the guard turns on while executors run" },
    "drain-timeout": { type: "string", valueName: "MS", description: "on SIGTERM, how long the worker takes to stop: in-flight tasks may finish until shortly before, then are handed back; it exits by then even when NATS is unreachable (default 30000)" },
  },
  positionals: { min: 1, max: 1000, missing: "missing executor modules, e.g. phaseflow worker --nats nats://127.0.0.1:4222 workers/etl.ts" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (the worker takes its tasks from NATS)");
    const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError(`--concurrency "${values.concurrency}" must be a whole number >= 1`);
    const drainMs = values["drain-timeout"] === undefined ? 30_000 : Number(values["drain-timeout"]);
    if (!Number.isInteger(drainMs) || drainMs < 0) throw new UsageError(`--drain-timeout "${values["drain-timeout"]}" must be a whole number of milliseconds`);
    const ackWaitMs = values["ack-wait"] === undefined ? undefined : Number(values["ack-wait"]);
    if (ackWaitMs !== undefined && (!Number.isInteger(ackWaitMs) || ackWaitMs < 1000)) throw new UsageError(`--ack-wait "${values["ack-wait"]}" must be a whole number of milliseconds >= 1000`);
    const maxDeliver = values["max-deliver"] === undefined ? undefined : Number(values["max-deliver"]);
    if (maxDeliver !== undefined && (!Number.isInteger(maxDeliver) || maxDeliver < 1)) throw new UsageError(`--max-deliver "${values["max-deliver"]}" must be a whole number >= 1`);
    const registry = await loadRegistries(positionals, { cwd: io.cwd ?? process.cwd() });
    const logger = createLogger({ name: "phaseflow-worker" });
    const worker = await startNatsWorker({
      nats: { ...natsOptionsFrom(values), ...(ackWaitMs !== undefined ? { ackWaitMs } : {}), ...(maxDeliver !== undefined ? { maxDeliver } : {}) },
      registry,
      concurrency,
      logger,
      guardStrayErrors: values["no-stray-guard"] !== true,
      ...(values.id !== undefined ? { workerId: values.id } : {}),
    });
    const signal = await untilSignal();
    logger.info({ signal }, "signal received: draining");
    // Leave a little of the drain timeout to hand tasks back and close the connection.
    const tasksMs = Math.max(0, drainMs - Math.min(2000, Math.floor(drainMs / 5)));
    const outcome = await closeWithin(() => worker.stop({ graceful: true, timeoutMs: tasksMs }), drainMs, logger, "phaseflow worker");
    return outcome === "closed" ? EXIT_OK : EXIT_FAILED;
  },
});
