/** Shared bench helpers: timing, memory in child processes, a seeded PRNG, tables. */
export { median, percentile, summarize } from "./stats.js";
export { measure, timeOnce, collectGarbage } from "./measure.js";
export type { MeasureOptions, Measurement } from "./measure.js";
export { measureInChild, printChildResult, runChild } from "./memory.js";
export type { MemorySample, RunChildOptions } from "./memory.js";
export { createPrng, randomInt } from "./prng.js";
export { fmt, printResults, printTable, renderTable } from "./table.js";
export type { BenchResult, Cell } from "./table.js";
