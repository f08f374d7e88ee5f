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
 * With `--wide`, the same fleet then runs a plain wide phase of N tasks, and the line
 * gives the map's dispatch rate as a ratio to it (same process, same workers).
 *
 * Run: `node --expose-gc --import tsx bench/map-scale.ts [N] [--wide]`.
 */
import { startNatsServer } from "../tests/support/nats-server.js";
import { startFleet } from "./nats-engine.js";
import { mapWorkflow, wideWorkflow } from "./lib/workflows.js";

const args = process.argv.slice(2);
const n = Number(args.find((a) => !a.startsWith("--")) ?? 100_000);
const withWide = args.includes("--wide");
const wf = mapWorkflow(n);
const wide = withWide ? wideWorkflow(n) : undefined;
const server = await startNatsServer();
const fleet = await startFleet({ url: server.url, prefix: "mapscale", workflows: wide === undefined ? [wf] : [wf, wide], workers: 2, concurrency: 128 });
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
  const line: Record<string, unknown> = { items: n, ms: Math.round(run.ms), tasksPerSec: Math.round((n * 1000) / run.ms), stored: run.stored, heapMB: { before: mb(before), peak: mb(peak), afterGc: mb(used()) } };
  if (wide !== undefined) {
    const w = await fleet.run(wide.name, 1_800_000);
    line.wide = { tasks: n, ms: Math.round(w.ms), tasksPerSec: Math.round((n * 1000) / w.ms) };
    line.mapOverWide = Math.round((w.ms / run.ms) * 100) / 100;
  }
  console.log(JSON.stringify(line));
} finally {
  await fleet.close();
  await server.stop();
}
