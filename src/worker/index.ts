/**
 * The worker library's public face: `createWorker` and its types.
 */
export { createWorker } from "./worker.js";
export type { Worker, WorkerStats, WorkerStopOptions } from "./worker.js";
export { defaultWorkerId } from "./options.js";
export type { WorkerOptions } from "./options.js";
