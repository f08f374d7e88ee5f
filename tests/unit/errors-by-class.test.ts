/**
 * Errors are matched by class, also after crossing the wire: every code phaseflow raises
 * comes back from serialize -> JSON -> wire schema -> deserialize as an instance of the
 * class that raised it, with its code, message and retryability; unknown codes come
 * back as RemoteError. The CLI's exit codes and the web view's statuses follow the class.
 */
import { describe, expect, it } from "vitest";
import { RunLimitReachedError } from "../../src/errors/limits.js";
import {
  AttemptLostError,
  CoordinatorError,
  EngineClosedError,
  ExecutorNotFoundError,
  FencedError,
  GuardFailedError,
  InfrastructureMismatchError,
  InputValidationError,
  MaxVisitsExceededError,
  ModuleLoadError,
  NatsPermissionError,
  NoTransitionError,
  NonRetryableError,
  OutputValidationError,
  PayloadNotJsonError,
  PayloadTooDeepError,
  PayloadTooLargeError,
  PhaseflowError,
  PlanMismatchError,
  QueueTimeoutError,
  RegistryError,
  ReplicasUnavailableError,
  RunInputTooLargeError,
  RunNotFoundError,
  RunReleasedError,
  StateOutputValidationError,
  TaskCancelledError,
  TaskFailedError,
  TaskInputValidationError,
  TaskTimeoutError,
  LimitKeyError,
  TransportClosedError,
  TransportConnectError,
  TransportOperationError,
  UsageError,
  WireMessageInvalidError,
} from "../../src/errors/base.js";
import { ExecutorStrayError } from "../../src/errors/executor.js";
import { ChildDepthError, ChildInputError, ChildRunFailedError, ChildStartError } from "../../src/errors/children.js";
import { ApiRequestError, MaxDeliveriesExceededError, NoRespondersError, PlanHashMismatchError, ReplyTooLargeError, StoreConflictError, WorkersUnavailableError } from "../../src/errors/fleet.js";
import * as baseErrors from "../../src/errors/base.js";
import * as childErrors from "../../src/errors/children.js";
import * as executorErrors from "../../src/errors/executor.js";
import * as fleetErrors from "../../src/errors/fleet.js";
import * as mapErrors from "../../src/errors/map.js";
import * as optionsErrors from "../../src/errors/options.js";
import * as payloadErrors from "../../src/errors/payloads.js";
import { PayloadStoreError } from "../../src/errors/payloads.js";
import * as validationErrors from "../../src/errors/validation.js";
import * as waitErrors from "../../src/errors/waits.js";
import * as upgradeErrors from "../../src/errors/upgrade.js";
import { KNOWN_ERRORS, type PhaseflowErrorClass } from "../../src/errors/known.js";
import { MapFailedError, MapItemsError } from "../../src/errors/map.js";
import { OptionsError } from "../../src/errors/options.js";
import { RemoteError, deserializeError, serializeError, serializedErrorSchema } from "../../src/errors/serialize.js";
import { WorkflowValidationError } from "../../src/errors/validation.js";
import { UpgradeRefusedError } from "../../src/errors/upgrade.js";
import { SignalPayloadInvalidError, SignalRefusedError, SignalTimeoutError, SleepUntilError } from "../../src/errors/waits.js";
import { exitCodeFor } from "../../src/cli/exit-codes.js";

const issues = [{ path: ["a", 0], message: "Expected number" }];

/** One error of each class, raised with each of its codes. */
const SAMPLES: [PhaseflowErrorClass, PhaseflowError][] = [
  [NonRetryableError, new NonRetryableError("no")],
  [TaskTimeoutError, new TaskTimeoutError("s/a", 100)],
  [LimitKeyError, new LimitKeyError("s/a", "concurrency", "threw: boom")],
  [TaskCancelledError, new TaskCancelledError("s/a", "cancelled")],
  [InputValidationError, new InputValidationError("wf", issues)],
  [OutputValidationError, new OutputValidationError("s/a", issues)],
  [TaskInputValidationError, new TaskInputValidationError("s/a", issues)],
  [StateOutputValidationError, new StateOutputValidationError("s", issues)],
  [WireMessageInvalidError, new WireMessageInvalidError("a task message", issues)],
  [OptionsError, new OptionsError("engine.run options", issues)],
  [ExecutorNotFoundError, new ExecutorNotFoundError("t/a", ["t/b"])],
  [RegistryError, new RegistryError("EXECUTOR_KEY_INVALID", "bad key")],
  [RegistryError, new RegistryError("EXECUTOR_DUPLICATE", "twice")],
  [ExecutorStrayError, new ExecutorStrayError("s/a", "unhandledRejection", new Error("late"))],
  [MaxVisitsExceededError, new MaxVisitsExceededError("s", 3)],
  [NoTransitionError, new NoTransitionError("s", "none matched")],
  [GuardFailedError, new GuardFailedError("s", "t", 0, new Error("guard"))],
  [PayloadTooLargeError, new PayloadTooLargeError("the input", 10, 5)],
  [PayloadTooDeepError, new PayloadTooDeepError("the input", 300, 256)],
  [PayloadNotJsonError, new PayloadNotJsonError("the output", new TypeError("BigInt"))],
  [UsageError, new UsageError("bad flag")],
  ...(["MODULE_NOT_FOUND", "MODULE_UNSUPPORTED", "MODULE_IMPORT_FAILED", "MODULE_NO_WORKFLOW", "MODULE_NO_REGISTRY", "WORKFLOW_AMBIGUOUS", "WORKFLOW_NOT_FOUND"] as const).map((code): [PhaseflowErrorClass, PhaseflowError] => [ModuleLoadError, new ModuleLoadError(code, "wf.ts", "cannot load")]),
  [WorkflowValidationError, new WorkflowValidationError("wf", [{ code: "CYCLE", path: "wf/s", message: "a cycle" }])],
  [UpgradeRefusedError, new UpgradeRefusedError("run_1", "wf", "1", "2", [{ code: "STATE_MISSING", path: "wf/s", message: "no state s" }])],
  [TaskFailedError, new TaskFailedError("s/a", 2, { code: "BOOM", message: "boom" }, { cause: new TaskTimeoutError("s/a", 5) })],
  [MapItemsError, new MapItemsError("s/m", "returned 3")],
  [MapFailedError, new MapFailedError("s/m", 2, 10, 1, { id: "s/m[0]", code: "BOOM", message: "boom" })],
  [SignalTimeoutError, new SignalTimeoutError("s/w", "go", 100)],
  [SleepUntilError, new SleepUntilError("s/w", "threw")],
  [SignalPayloadInvalidError, new SignalPayloadInvalidError("r1", "go", issues)],
  [SignalRefusedError, new SignalRefusedError("SIGNAL_UNKNOWN", "no such signal")],
  [SignalRefusedError, new SignalRefusedError("SIGNAL_RUN_FINISHED", "finished")],
  [SignalRefusedError, new SignalRefusedError("SIGNAL_INVALID", "bad id")],
  [RunNotFoundError, new RunNotFoundError("r1")],
  [RunReleasedError, new RunReleasedError("r1")],
  [PlanMismatchError, new PlanMismatchError("r1", "wf", "aaa", "bbb")],
  [EngineClosedError, new EngineClosedError("r1")],
  [FencedError, new FencedError("r1", 7)],
  [AttemptLostError, new AttemptLostError("s/a", 1000)],
  [CoordinatorError, new CoordinatorError("answer pf.api.run.get", new Error("KV away"))],
  [TransportClosedError, new TransportClosedError("memory", "publish")],
  [TransportConnectError, new TransportConnectError("NATS_CONNECT_FAILED", ["nats://x"], "cannot connect")],
  [TransportConnectError, new TransportConnectError("NATS_JETSTREAM_UNAVAILABLE", ["nats://x"], "no JetStream")],
  [TransportConnectError, new TransportConnectError("NATS_AUTH_FAILED", ["nats://x"], "credentials refused")],
  [NatsPermissionError, new NatsPermissionError('publishing to "pf.api.run.start" is not allowed for user "w"', "pf.api.run.start", new Error("permissions violation"))],
  [RunInputTooLargeError, new RunInputTooLargeError("wf", 2_000_000, 1_043_000)],
  [TransportOperationError, new TransportOperationError("NATS_PUBLISH_FAILED", "not stored")],
  [TransportOperationError, new TransportOperationError("NATS_ACK_FAILED", "no ack")],
  [TransportOperationError, new TransportOperationError("NATS_READ_FAILED", "no read")],
  [InfrastructureMismatchError, new InfrastructureMismatchError('stream "PF_TASKS"', "retention", "limits", "workqueue", "delete it")],
  [ReplicasUnavailableError, new ReplicasUnavailableError('stream "PF_TASKS"', 3, "one server")],
  [WorkersUnavailableError, new WorkersUnavailableError("wf", ["t/a"])],
  [RunLimitReachedError, new RunLimitReachedError("sync", "ann", 1)],
  [ApiRequestError, new ApiRequestError("NO_COORDINATOR", "nobody answers")],
  [ApiRequestError, new ApiRequestError("API_REQUEST_FAILED", "failed")],
  [ApiRequestError, new ApiRequestError("API_REPLY_INVALID", "malformed")],
  [PlanHashMismatchError, new PlanHashMismatchError("wf", "a".repeat(64), "b".repeat(64))],
  [ReplyTooLargeError, new ReplyTooLargeError("pf.api.run.get", 2_000_000, 1_048_576)],
  [MaxDeliveriesExceededError, new MaxDeliveriesExceededError("s/a", 5)],
  [QueueTimeoutError, new QueueTimeoutError("s/a", 100)],
  [NoRespondersError, new NoRespondersError("pf.api.run.get")],
  [StoreConflictError, new StoreConflictError('key "r1" exists in store "runs"')],
  [ChildRunFailedError, new ChildRunFailedError("s/c", "r1-c-0", "child", "failed", new TaskTimeoutError("s/a", 5))],
  [ChildRunFailedError, new ChildRunFailedError("s/c", "r1-c-0", "child", "cancelled", undefined)],
  [ChildDepthError, new ChildDepthError("s/c", "child", 10)],
  [ChildInputError, new ChildInputError("s/c", new Error("threw"))],
  [PayloadStoreError, new PayloadStoreError("PAYLOAD_MISSING", "sha256:ab", "payload sha256:ab is not in the payload store")],
  [PayloadStoreError, new PayloadStoreError("PAYLOAD_CORRUPT", "sha256:ab", "payload sha256:ab read back as 3 bytes whose hash is sha256:cd")],
  ...(["CHILD_WORKFLOW_UNKNOWN", "CHILD_INPUT_INVALID", "CHILD_START_FAILED"] as const).map((code): [PhaseflowErrorClass, PhaseflowError] => [ChildStartError, new ChildStartError(code, "cannot start")]),
];

/** Classes that are no error of their own: the base, what an unknown code comes back as, and bases of several. */
const NOT_RAISED: ReadonlySet<unknown> = new Set([PhaseflowError, RemoteError, baseErrors.SchemaValidationError]);

/** What a coordinator's reply does to an error: serialize, JSON over the wire, parse, deserialize. */
function roundTrip(err: unknown): PhaseflowError {
  return deserializeError(serializedErrorSchema.parse(JSON.parse(JSON.stringify(serializeError(err)))));
}

describe("errors - matched by class across the wire", () => {
  it("errors - every known code has a sample here (a new code needs one)", () => {
    const sampled = new Set(SAMPLES.map(([, e]) => e.code));
    const legacy = new Set(["COORDINATOR_FAILED", "RUN_NOT_RESUMABLE"]);
    expect(Object.keys(KNOWN_ERRORS).filter((code) => !sampled.has(code) && !legacy.has(code))).toEqual([]);
  });

  it("errors - every error class errors/ exports is known by code, so none comes back as a RemoteError", () => {
    const modules = [baseErrors, childErrors, executorErrors, fleetErrors, mapErrors, optionsErrors, payloadErrors, upgradeErrors, validationErrors, waitErrors];
    const classes = modules.flatMap((m) => Object.values(m)).filter((v): v is PhaseflowErrorClass => typeof v === "function" && v.prototype instanceof PhaseflowError);
    const known = new Set(Object.values(KNOWN_ERRORS));
    expect(classes.filter((c) => !NOT_RAISED.has(c) && !known.has(c)).map((c) => c.name)).toEqual([]);
  });

  it("errors - each known error round-trips through serialize/deserialize to its class and code", () => {
    for (const [type, err] of SAMPLES) {
      expect(KNOWN_ERRORS[err.code]).toBe(type);
      const back = roundTrip(err);
      expect(back, err.code).toBeInstanceOf(type);
      expect(back).toBeInstanceOf(PhaseflowError);
      expect(back).toBeInstanceOf(Error);
      expect(back).not.toBeInstanceOf(RemoteError);
      expect({ code: back.code, name: back.name, message: back.message, retryable: back.retryable }).toEqual({ code: err.code, name: err.name, message: err.message, retryable: err.retryable });
      expect(back.stack).toBe(err.stack);
    }
  });

  it("errors - a cause chain comes back class by class; an unknown code comes back as RemoteError", () => {
    const back = roundTrip(new TaskFailedError("s/a", 1, { code: "X", message: "x" }, { cause: new TaskTimeoutError("s/a", 5) }));
    expect(back).toBeInstanceOf(TaskFailedError);
    expect(back.cause).toBeInstanceOf(TaskTimeoutError);
    const odd = roundTrip(Object.assign(new Error("an executor's own"), { code: "MY_CODE" }));
    expect(odd).toBeInstanceOf(RemoteError);
    expect(odd.code).toBe("MY_CODE");
    const plain = roundTrip(new TypeError("plain"));
    expect(plain).toBeInstanceOf(RemoteError);
    expect(plain).toMatchObject({ code: "EXECUTOR_ERROR", name: "TypeError" });
  });

  it("errors - the old coordinator error codes in stored histories come back as the one CoordinatorError", () => {
    for (const code of ["COORDINATOR_FAILED", "RUN_NOT_RESUMABLE", "COORDINATOR_ERROR"]) {
      expect(deserializeError({ name: "CoordinatorError", code, message: "m", retryable: false })).toBeInstanceOf(CoordinatorError);
    }
  });

  it("errors - the CLI's exit code follows the class of an error a coordinator sent back", () => {
    expect(exitCodeFor(roundTrip(new RunNotFoundError("r1")))).toBe(2);
    expect(exitCodeFor(roundTrip(new UsageError('cannot retry run "r" from task "nope"')))).toBe(2);
    expect(exitCodeFor(roundTrip(new PlanHashMismatchError("wf", "a".repeat(64), "b".repeat(64))))).toBe(2);
    expect(exitCodeFor(roundTrip(new SignalRefusedError("SIGNAL_UNKNOWN", "no such signal")))).toBe(2);
    expect(exitCodeFor(roundTrip(new OptionsError("run options", issues)))).toBe(2);
    expect(exitCodeFor(roundTrip(new RunInputTooLargeError("wf", 2_000_000, 1_043_000)))).toBe(2);
    expect(exitCodeFor(roundTrip(new NatsPermissionError("not allowed", "pf.api.run.start", new Error("x"))))).toBe(2);
    expect(exitCodeFor(roundTrip(new TransportConnectError("NATS_AUTH_FAILED", ["nats://x"], "refused")))).toBe(2);
    expect(exitCodeFor(roundTrip(new TransportConnectError("NATS_CONNECT_FAILED", ["nats://x"], "no server")))).toBe(1);
    expect(exitCodeFor(roundTrip(new TaskFailedError("s/a", 1, { code: "X", message: "x" })))).toBe(1);
    expect(exitCodeFor(roundTrip(new CoordinatorError("answer", new Error("x"))))).toBe(1);
  });
});
