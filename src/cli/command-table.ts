/**
 * Every subcommand of `phaseflow`, in the order `phaseflow --help` lists them. Each
 * is loaded only when it runs (or prints its own help): `phaseflow --help` and
 * `compile` never load NATS, pino or the web view, which cost most of the start-up.
 * The name and summary are repeated here so the top-level help needs no command
 * module; tests/unit/cli-main.test.ts checks they match the commands' own.
 * Adding a command is one line here plus its own file under `commands/`
 * (built with `defineCommand` from `command.ts`).
 */
import { lazyCommand, type CliCommand } from "./command.js";

export const COMMANDS: readonly CliCommand[] = [
  lazyCommand("compile", "Compile a workflow and print its phases without running anything (dry run)", async () => (await import("./commands/compile.js")).compileCommand),
  lazyCommand("run", "Run a workflow, embedded or on a fleet over NATS, and show its progress", async () => (await import("./commands/run.js")).runCommand),
  lazyCommand("follow", "Follow a run on the fleet to its end, with the live progress display", async () => (await import("./commands/follow.js")).followCommand),
  lazyCommand("coordinator", "Run a coordinator: serve the workflows of the given modules and drive their runs over NATS", async () => (await import("./commands/coordinator.js")).coordinatorCommand),
  lazyCommand("worker", "Run a worker: take tasks from NATS and run them with the executors of the given modules", async () => (await import("./commands/worker.js")).workerCommand),
  lazyCommand("versions", "List each workflow version: plan hash, serving coordinators, runs in flight", async () => (await import("./commands/versions.js")).versionsCommand),
  lazyCommand("workers", "List the live workers of a fleet from their heartbeats", async () => (await import("./commands/workers.js")).workersCommand),
  lazyCommand("queues", "Show waiting, running and rate use per task limit and key on a fleet", async () => (await import("./commands/queues.js")).queuesCommand),
  lazyCommand("status", "List recent runs, or show one run per state and task", async () => (await import("./commands/status.js")).statusCommand),
  lazyCommand("cancel", "Cancel a run", async () => (await import("./commands/cancel.js")).cancelCommand),
  lazyCommand("retry", "Re-run a failed run from its failed tasks (or from --from) and everything downstream", async () => (await import("./commands/retry.js")).retryCommand),
  lazyCommand("upgrade", "Move a running run onto another version of its workflow, when compatible", async () => (await import("./commands/upgrade.js")).upgradeCommand),
  lazyCommand("signal", "Send a signal to a run (a signal node waiting for it succeeds with the payload)", async () => (await import("./commands/signal.js")).signalCommand),
  lazyCommand("prune", "Remove finished runs older than an age from NATS", async () => (await import("./commands/prune.js")).pruneCommand),
  lazyCommand("export", "Write a run's history and record to a JSON or SQLite archive", async () => (await import("./commands/export.js")).exportCommand),
  lazyCommand("nats-setup", "Create phaseflow's NATS streams and buckets, or change their replica count", async () => (await import("./commands/nats-setup.js")).natsSetupCommand),
  lazyCommand("nats-config", "Print a nats-server authorization block: one user per role, least privilege", async () => (await import("./commands/nats-config.js")).natsConfigCommand),
  lazyCommand("ui", "Serve the web view of a fleet: runs, their state machines and live DAGs, tasks, workers", async () => (await import("./commands/ui.js")).uiCommand),
  lazyCommand("schedules", "List the schedules and polling sources the coordinators serve, with their last and next tick", async () => (await import("./commands/schedules.js")).schedulesCommand),
];
