/**
 * A daily ETL job: extract the day's orders, clean / dedupe / profile them in
 * parallel, load them, then write a report. When nothing could be loaded the run
 * ends in the `empty` state instead, which has no tasks: its output is its input
 * (the ingest state's load summary).
 *
 *   ingest:  extract -> [clean, dedupe, stats] -> load      (3 phases)
 *   ingest -> report   when loaded > 0
 *   ingest -> empty    otherwise (fallback)
 *
 * Executors: workers/etl.ts (namespace "etl"). Try it:
 *   phaseflow compile examples/etl.ts --executors workers/etl.ts
 *   phaseflow run examples/etl.ts --executors workers/etl.ts --input '{"day":"2026-11-01","rows":200,"seed":7}'
 */
import { z, workflow } from "phaseflow";

// Every field has a default, so `phaseflow run examples/etl.ts` (and `npm start`)
// runs without --input.
const input = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "use YYYY-MM-DD").default("2026-11-01"),
  /** How many order records the (simulated) source system holds for the day. */
  rows: z.number().int().min(0).max(100_000).default(200),
  /** Seed of the source data: the same seed always yields the same orders. */
  seed: z.number().int().default(7),
});

const stats = z.object({ count: z.number().int(), mean: z.number().nullable(), min: z.number().nullable(), max: z.number().nullable() });

/** What `load` returns, and so what the ingest state hands on. */
const loaded = z.object({
  day: z.string(),
  loaded: z.number().int(),
  rejected: z.number().int(),
  duplicates: z.number().int(),
  stats,
  checksum: z.string(),
});

export const etl = workflow("etl", { version: "1", input, description: "daily orders ETL with a report" });

const ingest = etl.state("ingest", { output: loaded, description: "extract, transform and load one day of orders" });
const extract = ingest.task("extract", { executor: "etl/extract", input, retries: 2, backoff: { initialMs: 500, maxMs: 5_000 }, timeoutMs: 10_000 });
const clean = ingest.task("clean", { executor: "etl/clean" });
const dedupe = ingest.task("dedupe", { executor: "etl/dedupe" });
const profile = ingest.task("stats", { executor: "etl/stats" });
const load = ingest.task("load", { executor: "etl/load", output: loaded, retries: 3, timeoutMs: 30_000 });

extract.then([clean, dedupe, profile]);
load.dependsOn(clean, dedupe, profile);

const report = etl.state("report", { description: "summarise what was loaded" });
report.task("summarize", { executor: "etl/summarize" });

ingest.transition(report, { when: (out) => out.loaded > 0, description: "some orders were loaded" });
ingest.transition(etl.state("empty", { final: true, description: "nothing to report" }));
