// One-off: a 100,000-item map on a fleet (coordinator in this process), heap after vs before.
import { startNatsServer } from "../tests/support/nats-server.js";
import { startFleet } from "./nats-engine.js";
import { mapWorkflow } from "./lib/workflows.js";
const n = Number(process.argv[2] ?? 100_000);
const wf = mapWorkflow(n);
const server = await startNatsServer();
const fleet = await startFleet({ url: server.url, prefix: "m100k", workflows: [wf], workers: 2, concurrency: 128 });
globalThis.gc?.();
const before = process.memoryUsage();
let peak = 0;
const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 200);
const run = await fleet.run(wf.name, 900_000);
clearInterval(timer);
const after = process.memoryUsage();
console.log(JSON.stringify({ n, ms: Math.round(run.ms), tasksPerSec: Math.round((n * 1000) / run.ms), stored: run.stored, heapBeforeMB: Math.round(before.heapUsed / 1e6), heapPeakMB: Math.round(peak / 1e6), heapAfterMB: Math.round(after.heapUsed / 1e6), rssAfterMB: Math.round(after.rss / 1e6) }));
await fleet.close();
await server.stop();
