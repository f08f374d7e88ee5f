/**
 * phaseflow's public face. Everything a user needs to define, compile and run
 * workflows embedded; the NATS fleet lives in `phaseflow/nats` (src/nats.ts) so that
 * embedded users never load the NATS client. Each export is named here on purpose.
 */

// Authoring
export { z } from "zod";
export { workflow, isWorkflow, Workflow, State, Task } from "./dsl/workflow.js";
export type { BackoffOptions, ExecutorKey, JsonValue, MapOptions, SignalOptions, SleepOptions, StateOptions, TaskOptions, TaskParams, WorkflowInput, WorkflowOptions } from "./dsl/workflow.js";
export type { ConcurrencyLimit, RateLimit } from "./dsl/limits.js";
export type { CatchUp, CronSchedule, EverySchedule, ScheduleOptions, SourceOptions } from "./dsl/triggers.js";

// Compiling
export { compile } from "./compiler/compile.js";
export type { CompileOptions } from "./compiler/compile.js";
export { planSchema } from "./plan/schema.js";
export { stateGraph } from "./plan/graph.js";
export type { StateGraph } from "./plan/graph.js";
export type { Plan, PlanState, PlanTask, PlanTransition, PlanRoute } from "./plan/schema.js";

// Executors
export { createRegistry, isRegistry } from "./registry/registry.js";
export type { Registry, RegistryNamespace } from "./registry/registry.js";
export type { ExecutorEntry, ExecutorFn, ExecutorOptions, Logger, MapItemInfo, TaskContext } from "./registry/types.js";

// Running
export { createEngine } from "./embedded/engine.js";
export type { Engine, EngineOptions, EngineRunOptions, UpgradeOptions } from "./embedded/engine.js";
export { upgradeIssues } from "./runtime/core/upgrade.js";
export type { UpgradeReport } from "./runtime/core/upgrade.js";
export { compareVersions, latestVersion } from "./plan/versions.js";
export type { RunHandle } from "./runtime/shell/run-handle.js";
export { createCoordinator } from "./runtime/shell/coordinator.js";
export type { Coordinator, CoordinatorOptions } from "./runtime/shell/coordinator.js";
export type { RunOptions } from "./support/run-options.js";
export type { SendSignalOptions, SignalSent } from "./runtime/core/signals.js";
export { serveTriggers } from "./embedded/triggers.js";
export type { ServeTriggersOptions, TriggerServer } from "./embedded/triggers.js";
export { createMemoryTriggerStore } from "./triggers/trigger-state.js";
export type { TriggerState, TriggerStateStore } from "./triggers/trigger-state.js";
export type { RetryFrom } from "./runtime/core/run-retry.js";
export { reduceRunEvents, recordOfHistory } from "./runtime/core/run-record.js";
export { evolve, createRunState, foldEvents } from "./runtime/core/run-state.js";
export type { RunState } from "./runtime/core/run-state.js";
export { decide } from "./runtime/core/decide.js";
export type { Trigger, Effect, Decided } from "./runtime/core/decide.js";
export { historyEvents } from "./runtime/core/history.js";
export { runRecordSchema } from "./runtime/core/run-record-schema.js";
export type { RunRecord, RunStatus, RunSummary, TaskRecord, TaskStatus, StateRecord } from "./runtime/core/run-record-schema.js";
export { createLogger, createSilentLogger } from "./support/logger.js";
export { systemClock } from "./support/clock.js";
export type { Clock } from "./support/clock.js";
export { createWorker } from "./worker/worker.js";
export type { Worker, WorkerOptions, WorkerStats } from "./worker/index.js";
export { createMemoryTransport, createMemoryHub } from "./transport/memory/index.js";
export type { Transport, TaskDelivery, Subscription } from "./transport/port.js";
export type { RunEvent, TaskMessage, ControlMessage } from "./transport/messages.js";

// Errors
export {
  PhaseflowError,
  NonRetryableError,
  TaskTimeoutError,
  QueueTimeoutError,
  TaskCancelledError,
  SchemaValidationError,
  InputValidationError,
  OutputValidationError,
  TaskInputValidationError,
  ExecutorNotFoundError,
  RegistryError,
  MaxVisitsExceededError,
  NoTransitionError,
  PayloadTooLargeError,
  UsageError,
  TaskFailedError,
  RunNotFoundError,
  RunReleasedError,
  PlanMismatchError,
  EngineClosedError,
} from "./errors/base.js";
export { SignalTimeoutError, SleepUntilError, SignalPayloadInvalidError, SignalRefusedError } from "./errors/waits.js";
export { OptionsError } from "./errors/options.js";
export { WorkflowValidationError, VALIDATION_CODES } from "./errors/validation.js";
export { UpgradeRefusedError, UPGRADE_ISSUE_CODES } from "./errors/upgrade.js";
export type { UpgradeIssue, UpgradeIssueCode } from "./errors/upgrade.js";
// Run archives (JSON or SQLite) of a run's stored history
export { archiveOf } from "./archive/archive.js";
export type { RunArchive } from "./archive/archive.js";
export { writeArchive } from "./archive/write.js";
export type { ArchiveFormat } from "./archive/write.js";
export type { ValidationIssue, ValidationCode } from "./errors/validation.js";
export { serializeError, deserializeError } from "./errors/serialize.js";
export { MapFailedError, MapItemsError } from "./errors/map.js";
export { taskSeed, seedOfRunId } from "./runtime/core/seed.js";
export type { SerializedError } from "./errors/serialize.js";
