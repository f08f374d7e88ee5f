/**
 * Every subcommand of `phaseflow`, in the order `phaseflow --help` lists them.
 * Adding a command is one line here plus its own file under `commands/`
 * (built with `defineCommand` from `command.ts`).
 */
import type { CliCommand } from "./command.js";
import { cancelCommand } from "./commands/cancel.js";
import { compileCommand } from "./commands/compile.js";
import { coordinatorCommand } from "./commands/coordinator.js";
import { natsConfigCommand } from "./commands/nats-config.js";
import { natsSetupCommand } from "./commands/nats-setup.js";
import { pruneCommand } from "./commands/prune.js";
import { exportCommand } from "./commands/export.js";
import { followCommand } from "./commands/follow.js";
import { retryCommand } from "./commands/retry.js";
import { runCommand } from "./commands/run.js";
import { signalCommand } from "./commands/signal.js";
import { schedulesCommand } from "./commands/schedules.js";
import { statusCommand } from "./commands/status.js";
import { uiCommand } from "./commands/ui.js";
import { workerCommand } from "./commands/worker.js";
import { workersCommand } from "./commands/workers.js";

export const COMMANDS: readonly CliCommand[] = [
  compileCommand,
  runCommand,
  followCommand,
  coordinatorCommand,
  workerCommand,
  workersCommand,
  statusCommand,
  cancelCommand,
  retryCommand,
  signalCommand,
  pruneCommand,
  exportCommand,
  natsSetupCommand,
  natsConfigCommand,
  uiCommand,
  schedulesCommand,
];
