/**
 * The NATS JetStream transport: what `phaseflow/nats` (and the CLI's --nats) use.
 * Named exports only; everything else in this folder is internal.
 */
export { createNatsTransport, type NatsTransport } from "./transport.js";
export { resolveNatsTransportOptions, natsTransportOptionsSchema, type NatsTransportOptions, type NatsTlsOptions, type ResolvedNatsTransportOptions } from "./options.js";
export { natsNames, checkPrefix, DEFAULT_PREFIX, type NatsNames } from "./names.js";
export { typedKv, type TypedKv, type TypedEntry } from "./typed-kv.js";
export { DUPLICATE_WINDOW_MS } from "./infrastructure.js";
