/**
 * One-off scale check of `state.map` on a fleet (not part of `npm run bench`, which runs
 * the 10,000-item map): a map of N items (default 100,000) run by a coordinator in this
 * process and 2 worker processes x 128 on a fresh nats-server; prints the run's time,
 * what it stored, and this process's heap plus array buffers (coordinator and client
 * together; a coordinator keeps settled instances in typed arrays, which live in array
 * buffers) before, at its peak (sampled every 200 ms, garbage included) and after the
 * run, after a GC (the coordinator still keeps the finished run's record). bench/map-fold.ts measures the coordinator's
 * fold alone, per instance.
 *
 * Run: `node --expose-gc --import tsx bench/map-scale.ts [N]`.
 */
import { startNatsServer } from "../tests/support/nats-server.js";
import { startFleet } from "./nats-engine.js";
import { mapWorkflow } from "./lib/workflows.js";

const n = Number(process.argv[2] ?? 100_000);
const wf = mapWorkflow(n);
const server = await startNatsServer();
const fleet = await startFleet({ url: server.url, prefix: "mapscale", workflows: [wf], workers: 2, concurrency: 128 });
try {
  (globalThis as { gc?: () => void }).gc?.();
  const used = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, used())), 200);
  const run = await fleet.run(wf.name, 1_800_000);
  clearInterval(timer);
  const mb = (b: number): number => Math.round(b / 1e6);
  (globalThis as { gc?: () => void }).gc?.();
  console.log(JSON.stringify({ items: n, ms: Math.round(run.ms), tasksPerSec: Math.round((n * 1000) / run.ms), stored: run.stored, heapMB: { before: mb(before), peak: mb(peak), afterGc: mb(used()) } }));
} finally {
  await fleet.close();
  await server.stop();
}
