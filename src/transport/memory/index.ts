/**
 * The in-process transport adapter: `createMemoryTransport()` for the embedded
 * default, `createMemoryHub()` to connect several parties (or test malformed input).
 */
export { createMemoryHub, createMemoryTransport } from "./hub.js";
export type { MemoryHub, MemoryHubOptions, MemoryHubStats } from "./hub.js";
export type { WireMode } from "./wire.js";
