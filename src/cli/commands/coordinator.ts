/**
 * `phaseflow coordinator --nats URL <workflow modules...>`: the coordinator process.
 * Serves the workflows the modules export, answers the run API, drives runs, and on
 * SIGTERM/SIGINT stops answering and closes (run histories stay in NATS), within
 * --drain-timeout even when NATS is unreachable (then exiting 1); a second signal exits at once.
 */
import { UsageError } from "../../errors/base.js";
import { startCoordinatorService } from "../../fleet/coordinator-service.js";
import type { Workflow } from "../../dsl/workflow.js";
import { createLogger } from "../../support/logger.js";
import { defineCommand } from "../command.js";
import { parseDuration } from "../duration.js";
import { parseSize } from "../size.js";
import { EXIT_FAILED, EXIT_OK } from "../exit-codes.js";
import { loadModule, pickWorkflow } from "../load-module.js";
import { NATS_FLAGS, natsOptionsFrom, untilSignal } from "../nats-flags.js";
import { REPLICAS_FLAG, replicasFrom } from "../replicas-flag.js";
import { closeWithin, DRAIN_FLAG, drainTimeoutFrom } from "../shutdown.js";

export const coordinatorCommand = defineCommand({
  name: "coordinator",
  summary: "Run a coordinator: serve the workflows of the given modules and drive their runs over NATS",
  usage: "--nats URL[,URL...] [--replicas N] [--require-workers] [--lease-ms MS] [--watchdog-ms MS] [--child-check-ms MS] [--keep-finished-bytes SIZE] <workflow modules...>",
  details: "Every workflow a module exports is served. Logs are pino JSON lines on stderr.",
  flags: {
    ...NATS_FLAGS,
    "require-workers": { type: "boolean", description: "reject runs whose executors no live worker serves (default: accept and wait)" },
    id: { type: "string", valueName: "ID", description: "coordinator id (default <host>-<pid>; a per-process nonce is appended)" },
    retention: { type: "string", valueName: "AGE", description: "keep histories and summaries of finished runs this long, e.g. 7d, 12h (default 7d)" },
    "lease-ms": { type: "string", valueName: "MS", description: "how long a run's lease lasts without renewal before another coordinator takes the run over (default 15000)" },
    "keep-finished-bytes": { type: "string", valueName: "SIZE", description: "memory for finished runs' records kept to answer status quickly, e.g. 64MB, 1GB, 0 (default 64MB)" },
    "task-sweep-ms": { type: "string", valueName: "MS", description: "how often (and past what age) task messages no run can use are deleted from the tasks stream (default 60000)" },
    "watchdog-ms": { type: "string", valueName: "MS", description: "re-dispatch an attempt without a timeout after this long with nothing heard of it (default 600000)" },
    "child-check-ms": { type: "string", valueName: "MS", description: "how long a parent run waits on a child before its coordinator reads the child's history for an end that never reached the parent (default 30000)" },
    ...REPLICAS_FLAG,
    ...DRAIN_FLAG,
  },
  positionals: { min: 1, max: 1000, missing: "missing workflow modules, e.g. phaseflow coordinator --nats nats://127.0.0.1:4222 examples/etl.ts" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (the coordinator talks to workers through NATS)");
    const leaseMs = values["lease-ms"] === undefined ? undefined : Number(values["lease-ms"]);
    if (leaseMs !== undefined && (!Number.isInteger(leaseMs) || leaseMs < 500)) throw new UsageError(`--lease-ms "${values["lease-ms"]}" must be a whole number of milliseconds >= 500`);
    const watchdogMs = values["watchdog-ms"] === undefined ? undefined : Number(values["watchdog-ms"]);
    if (watchdogMs !== undefined && (!Number.isInteger(watchdogMs) || watchdogMs < 500)) throw new UsageError(`--watchdog-ms "${values["watchdog-ms"]}" must be a whole number of milliseconds >= 500`);
    const childCheckMs = values["child-check-ms"] === undefined ? undefined : Number(values["child-check-ms"]);
    if (childCheckMs !== undefined && (!Number.isInteger(childCheckMs) || childCheckMs < 100)) throw new UsageError(`--child-check-ms "${values["child-check-ms"]}" must be a whole number of milliseconds >= 100`);
    const keepFinishedBytes = values["keep-finished-bytes"] === undefined ? undefined : parseSize(values["keep-finished-bytes"], "--keep-finished-bytes");
    const taskSweepMs = values["task-sweep-ms"] === undefined ? undefined : Number(values["task-sweep-ms"]);
    if (taskSweepMs !== undefined && (!Number.isInteger(taskSweepMs) || taskSweepMs < 100)) throw new UsageError(`--task-sweep-ms "${values["task-sweep-ms"]}" must be a whole number of milliseconds >= 100`);
    const retentionMs = values.retention === undefined ? undefined : parseDuration(values.retention, "--retention");
    const drainMs = drainTimeoutFrom(values["drain-timeout"]);
    const replicas = replicasFrom(values.replicas);
    const workflows: Workflow<unknown>[] = [];
    for (const file of positionals) {
      const mod = await loadModule(file, { cwd: io.cwd ?? process.cwd() });
      // Throws the "exports no workflow" error; executors belong to workers, not coordinators.
      if (mod.workflows.length === 0) pickWorkflow(mod, undefined, `executor modules go to the workers: phaseflow worker --nats URL ${file}`);
      workflows.push(...mod.workflows.map((w) => w.workflow));
    }
    const logger = createLogger({ name: "phaseflow-coordinator" });
    const service = await startCoordinatorService({
      nats: { ...natsOptionsFrom(values), ...(replicas !== undefined ? { replicas } : {}) },
      workflows,
      requireWorkers: values["require-workers"] === true,
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      ...(retentionMs !== undefined ? { retentionMs } : {}),
      ...(watchdogMs !== undefined ? { watchdogMs } : {}),
      ...(keepFinishedBytes !== undefined ? { keepFinishedBytes } : {}),
      ...(childCheckMs !== undefined ? { childCheckMs } : {}),
      ...(taskSweepMs !== undefined ? { taskSweepMs } : {}),
      logger,
      ...(values.id !== undefined ? { coordinatorId: values.id } : {}),
    });
    const signal = await untilSignal();
    logger.info({ signal }, "signal received: stopping");
    const outcome = await closeWithin(() => service.close(), drainMs, logger, "phaseflow coordinator");
    return outcome === "closed" ? EXIT_OK : EXIT_FAILED;
  },
});
