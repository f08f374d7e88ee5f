/**
 * Every error class phaseflow raises, by its stable code: what `deserializeError` gives
 * back, so an error that crossed the wire (a coordinator's reply, a task's failure in a
 * history) is matched by its class (`err instanceof RunNotFoundError`), never by its code
 * string. A code not listed here comes back as a `RemoteError`.
 */
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
  NatsPermissionError,
  ModuleLoadError,
  NoTransitionError,
  NonRetryableError,
  OutputValidationError,
  PayloadNotJsonError,
  PayloadTooDeepError,
  PayloadTooLargeError,
  type PhaseflowError,
  PlanMismatchError,
  QueueTimeoutError,
  RegistryError,
  ReplicasUnavailableError,
  RunNotFoundError,
  RunInputTooLargeError,
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
} from "./base.js";
import { ExecutorStrayError } from "./executor.js";
import { ChildDepthError, ChildInputError, ChildRunFailedError, ChildStartError } from "./children.js";
import { ApiRequestError, MaxDeliveriesExceededError, NoRespondersError, PlanHashMismatchError, ReplyTooLargeError, StoreConflictError, WorkersUnavailableError } from "./fleet.js";
import { RunLimitReachedError } from "./limits.js";
import { MapFailedError, MapItemsError } from "./map.js";
import { OptionsError } from "./options.js";
import { PayloadStoreError } from "./payloads.js";
import { UpgradeRefusedError } from "./upgrade.js";
import { WorkflowValidationError } from "./validation.js";
import { SignalPayloadInvalidError, SignalRefusedError, SignalTimeoutError, SleepUntilError } from "./waits.js";

/** A class of PhaseflowError, whatever its constructor takes. */
export type PhaseflowErrorClass = abstract new (...args: never[]) => PhaseflowError;

/** Code -> class; a class raised with several codes is listed under each. */
export const KNOWN_ERRORS: Readonly<Record<string, PhaseflowErrorClass>> = {
  NON_RETRYABLE: NonRetryableError,
  TASK_TIMEOUT: TaskTimeoutError,
  LIMIT_KEY_FAILED: LimitKeyError,
  RUN_LIMIT_REACHED: RunLimitReachedError,
  QUEUE_TIMEOUT: QueueTimeoutError,
  TASK_CANCELLED: TaskCancelledError,
  INPUT_INVALID: InputValidationError,
  INPUT_TOO_LARGE: RunInputTooLargeError,
  OUTPUT_INVALID: OutputValidationError,
  TASK_INPUT_INVALID: TaskInputValidationError,
  STATE_OUTPUT_INVALID: StateOutputValidationError,
  WIRE_MESSAGE_INVALID: WireMessageInvalidError,
  OPTIONS_INVALID: OptionsError,
  EXECUTOR_NOT_FOUND: ExecutorNotFoundError,
  EXECUTOR_KEY_INVALID: RegistryError,
  EXECUTOR_DUPLICATE: RegistryError,
  EXECUTOR_STRAY_ERROR: ExecutorStrayError,
  MAX_VISITS_EXCEEDED: MaxVisitsExceededError,
  NO_TRANSITION: NoTransitionError,
  GUARD_FAILED: GuardFailedError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  PAYLOAD_TOO_DEEP: PayloadTooDeepError,
  PAYLOAD_NOT_JSON: PayloadNotJsonError,
  PAYLOAD_MISSING: PayloadStoreError,
  PAYLOAD_CORRUPT: PayloadStoreError,
  USAGE: UsageError,
  MODULE_NOT_FOUND: ModuleLoadError,
  MODULE_UNSUPPORTED: ModuleLoadError,
  MODULE_IMPORT_FAILED: ModuleLoadError,
  MODULE_NO_WORKFLOW: ModuleLoadError,
  MODULE_NO_REGISTRY: ModuleLoadError,
  WORKFLOW_AMBIGUOUS: ModuleLoadError,
  WORKFLOW_NOT_FOUND: ModuleLoadError,
  WORKFLOW_INVALID: WorkflowValidationError,
  TASK_FAILED: TaskFailedError,
  MAP_ITEMS_FAILED: MapItemsError,
  MAP_FAILED: MapFailedError,
  SIGNAL_TIMEOUT: SignalTimeoutError,
  SLEEP_UNTIL_INVALID: SleepUntilError,
  SIGNAL_PAYLOAD_INVALID: SignalPayloadInvalidError,
  SIGNAL_UNKNOWN: SignalRefusedError,
  SIGNAL_RUN_FINISHED: SignalRefusedError,
  SIGNAL_INVALID: SignalRefusedError,
  RUN_NOT_FOUND: RunNotFoundError,
  RUN_RELEASED: RunReleasedError,
  PLAN_MISMATCH: PlanMismatchError,
  ENGINE_CLOSED: EngineClosedError,
  DECISION_FENCED: FencedError,
  ATTEMPT_LOST: AttemptLostError,
  COORDINATOR_ERROR: CoordinatorError,
  // Codes of the two coordinator error classes there were before: old histories hold them.
  COORDINATOR_FAILED: CoordinatorError,
  RUN_NOT_RESUMABLE: CoordinatorError,
  TRANSPORT_CLOSED: TransportClosedError,
  NATS_CONNECT_FAILED: TransportConnectError,
  NATS_JETSTREAM_UNAVAILABLE: TransportConnectError,
  NATS_AUTH_FAILED: TransportConnectError,
  NATS_PERMISSION_DENIED: NatsPermissionError,
  NATS_PUBLISH_FAILED: TransportOperationError,
  NATS_ACK_FAILED: TransportOperationError,
  NATS_READ_FAILED: TransportOperationError,
  NATS_INFRASTRUCTURE_MISMATCH: InfrastructureMismatchError,
  NATS_REPLICAS_UNAVAILABLE: ReplicasUnavailableError,
  WORKERS_UNAVAILABLE: WorkersUnavailableError,
  NO_COORDINATOR: ApiRequestError,
  API_REQUEST_FAILED: ApiRequestError,
  API_REPLY_INVALID: ApiRequestError,
  PLAN_HASH_MISMATCH: PlanHashMismatchError,
  REPLY_TOO_LARGE: ReplyTooLargeError,
  MAX_DELIVERIES_EXCEEDED: MaxDeliveriesExceededError,
  NO_RESPONDERS: NoRespondersError,
  STORE_CONFLICT: StoreConflictError,
  CHILD_FAILED: ChildRunFailedError,
  CHILD_CANCELLED: ChildRunFailedError,
  CHILD_DEPTH_EXCEEDED: ChildDepthError,
  CHILD_INPUT_FAILED: ChildInputError,
  CHILD_WORKFLOW_UNKNOWN: ChildStartError,
  CHILD_INPUT_INVALID: ChildStartError,
  CHILD_START_FAILED: ChildStartError,
  UPGRADE_INCOMPATIBLE: UpgradeRefusedError,
};

/** The class phaseflow raises with `code`, if it is one of its own. */
export function errorClassOf(code: string): PhaseflowErrorClass | undefined {
  return Object.hasOwn(KNOWN_ERRORS, code) ? KNOWN_ERRORS[code] : undefined;
}
