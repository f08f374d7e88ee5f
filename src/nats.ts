/**
 * `phaseflow/nats`: running phaseflow as a fleet over NATS JetStream — the transport
 * adapter, the coordinator service, the worker service and the client.
 */
export { createNatsTransport } from "./transport/nats/transport.js";
export type { NatsTransport } from "./transport/nats/transport.js";
export type { NatsTransportOptions, NatsTlsOptions } from "./transport/nats/options.js";
export { natsNames } from "./transport/nats/names.js";
export type { NatsNames } from "./transport/nats/names.js";
export { startCoordinatorService } from "./fleet/coordinator-service.js";
export type { CoordinatorService, CoordinatorServiceOptions } from "./fleet/coordinator-service.js";
export { startNatsWorker } from "./fleet/worker-service.js";
export type { NatsWorker, NatsWorkerOptions } from "./fleet/worker-service.js";
export { createClient } from "./fleet/client.js";
export type { Client, ClientOptions, StartedRun, StartOptions } from "./fleet/client.js";
export type { RunSummary } from "./fleet/api-schemas.js";
export type { WorkerHeartbeat } from "./fleet/heartbeat.js";
export type { VersionReport } from "./fleet/versions-report.js";
export { WorkersUnavailableError, ApiRequestError, PlanHashMismatchError, ReplyTooLargeError, MaxDeliveriesExceededError } from "./errors/fleet.js";
export { CoordinatorError } from "./errors/base.js";
export { rolePermissions, natsAuthorizationBlock, inboxPrefixOf, NATS_ROLES } from "./transport/nats/permissions.js";
export type { NatsRole, RolePermissions, NatsConfigOptions } from "./transport/nats/permissions.js";
export { ReplicasUnavailableError, InfrastructureMismatchError } from "./errors/base.js";
