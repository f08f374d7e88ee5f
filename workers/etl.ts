/**
 * Executors of the `etl` example (examples/etl.ts), namespace `etl`.
 *
 * The "source system" is a seeded generator: `{ rows, seed }` always yields the
 * same CSV, including a few invalid rows (bad amounts, missing customers) and
 * duplicated orders, so every transform has real work to do:
 *   extract  -> CSV text
 *   clean    -> parsed, validated rows (+ how many were rejected)
 *   dedupe   -> order ids that occur more than once (+ how many extra copies)
 *   stats    -> count / mean / min / max of the amounts of the rows that will load
 *   load     -> keeps the first valid copy of each order, "writes" them (a checksum)
 *   summarize (state "report") -> a one-paragraph text summary
 *
 * Amounts are handled in integer cents so every figure is exact and a test can
 * recompute it independently (`expectedEtl`).
 */
import { z, createRegistry } from "phaseflow";
import { fnv1a, intBetween, mulberry32, pick } from "./lib/prng.js";

export const etlInputSchema = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "use YYYY-MM-DD"),
  rows: z.number().int().min(0).max(100_000),
  seed: z.number().int(),
});
export type EtlInput = z.infer<typeof etlInputSchema>;

const rowSchema = z.object({ id: z.string(), customer: z.string(), cents: z.number().int() });
type Row = z.infer<typeof rowSchema>;

export const statsSchema = z.object({
  count: z.number().int(),
  mean: z.number().nullable(),
  min: z.number().nullable(),
  max: z.number().nullable(),
});
export type Stats = z.infer<typeof statsSchema>;

export const loadOutputSchema = z.object({
  day: z.string(),
  loaded: z.number().int(),
  rejected: z.number().int(),
  duplicates: z.number().int(),
  stats: statsSchema,
  checksum: z.string(),
});
export type LoadOutput = z.infer<typeof loadOutputSchema>;

const extractOutput = z.object({ day: z.string(), csv: z.string() });
const cleanOutput = z.object({ day: z.string(), rows: z.array(rowSchema), rejected: z.number().int() });
const dedupeOutput = z.object({ duplicates: z.number().int(), duplicateIds: z.array(z.string()) });
const statsOutput = z.object({ stats: statsSchema });
const loadInput = cleanOutput.extend(dedupeOutput.shape).extend(statsOutput.shape);
export const reportOutputSchema = z.object({ day: z.string(), loaded: z.number().int(), summary: z.string() });

const CUSTOMERS = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
export const CSV_HEADER = "id,customer,amount";

/**
 * The source data for a day: `rows` raw CSV records `[id, customer, amount]`.
 * About 6% repeat an earlier record, about 5% are invalid.
 */
export function generateRecords(rows: number, seed: number): string[][] {
  const rng = mulberry32(seed);
  const out: string[][] = [];
  let next = 1;
  for (let k = 0; k < rows; k++) {
    if (out.length > 0 && rng() < 0.06) {
      out.push([...out[intBetween(rng, 0, out.length - 1)]!]);
      continue;
    }
    const id = `o${String(next++).padStart(5, "0")}`;
    const cents = intBetween(rng, 100, 99_999);
    let customer = pick(rng, CUSTOMERS);
    let amount = (cents / 100).toFixed(2);
    const flaw = rng();
    if (flaw < 0.02) amount = "n/a";
    else if (flaw < 0.035) amount = `-${amount}`;
    else if (flaw < 0.05) customer = "";
    out.push([id, customer, amount]);
  }
  return out;
}

/** Parse our CSV (no quoting needed: fields never hold commas). */
function parseCsv(csv: string): string[][] {
  const lines = csv.split("\n").filter((l) => l.length > 0);
  if (lines[0] !== CSV_HEADER) throw new Error(`unexpected CSV header "${lines[0] ?? ""}"; expected "${CSV_HEADER}"`);
  return lines.slice(1).map((l) => l.split(","));
}

/** A valid row, or undefined when the record is rejected. */
function validate(fields: readonly string[]): Row | undefined {
  const [id = "", customer = "", amount = ""] = fields;
  if (!/^o\d{5}$/.test(id) || customer.length === 0 || !/^\d+\.\d{2}$/.test(amount)) return undefined;
  return { id, customer, cents: Math.round(Number(amount) * 100) };
}

/** Keeps the first row of each order id (of those in `only`, when given). */
function firstOfEach(rows: readonly Row[], only?: ReadonlySet<string>): Row[] {
  const seen = new Set<string>();
  return rows.filter((r) => {
    if (only !== undefined && !only.has(r.id)) return true;
    if (seen.has(r.id)) return false;
    seen.add(r.id);
    return true;
  });
}

function statsOf(rows: readonly Row[]): Stats {
  if (rows.length === 0) return { count: 0, mean: null, min: null, max: null };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const r of rows) {
    sum += r.cents;
    min = Math.min(min, r.cents);
    max = Math.max(max, r.cents);
  }
  return { count: rows.length, mean: Math.round(sum / rows.length) / 100, min: min / 100, max: max / 100 };
}

export function formatSummary(out: LoadOutput): string {
  const s = out.stats;
  const amounts = s.count === 0 ? "no amounts" : `amount mean ${s.mean!.toFixed(2)}, min ${s.min!.toFixed(2)}, max ${s.max!.toFixed(2)}`;
  return `${out.day}: loaded ${out.loaded} orders (${out.rejected} rejected, ${out.duplicates} duplicates); ${amounts}; checksum ${out.checksum}`;
}

export const registry = createRegistry();

registry
  .namespace("etl")
  .register(
    "extract",
    (input: EtlInput) => ({
      day: input.day,
      csv: [CSV_HEADER, ...generateRecords(input.rows, input.seed).map((r) => r.join(","))].join("\n") + "\n",
    }),
    { input: etlInputSchema, output: extractOutput, description: "generate the day's orders as CSV" },
  )
  .register(
    "clean",
    (input: z.infer<typeof extractOutput>) => {
      const records = parseCsv(input.csv);
      const rows = records.map(validate).filter((r): r is Row => r !== undefined);
      return { day: input.day, rows, rejected: records.length - rows.length };
    },
    { input: extractOutput, output: cleanOutput, description: "parse and validate rows" },
  )
  .register(
    "dedupe",
    (input: z.infer<typeof extractOutput>) => {
      const counts = new Map<string, number>();
      for (const [id = ""] of parseCsv(input.csv)) counts.set(id, (counts.get(id) ?? 0) + 1);
      const repeated = [...counts].filter(([, n]) => n > 1);
      return { duplicates: repeated.reduce((n, [, c]) => n + c - 1, 0), duplicateIds: repeated.map(([id]) => id).sort() };
    },
    { input: extractOutput, output: dedupeOutput, description: "find orders that occur more than once" },
  )
  .register(
    "stats",
    (input: z.infer<typeof extractOutput>) => {
      const rows = parseCsv(input.csv).map(validate).filter((r): r is Row => r !== undefined);
      return { stats: statsOf(firstOfEach(rows)) };
    },
    { input: extractOutput, output: statsOutput, description: "amount statistics of the rows that will load" },
  )
  .register(
    "load",
    (input: z.infer<typeof loadInput>, ctx) => {
      const table = firstOfEach(input.rows, new Set(input.duplicateIds));
      ctx.progress(table.length, table.length);
      return {
        day: input.day,
        loaded: table.length,
        rejected: input.rejected,
        duplicates: input.duplicates,
        stats: input.stats,
        checksum: fnv1a(table.map((r) => `${r.id}:${r.cents}`).join("|")).toString(16).padStart(8, "0"),
      };
    },
    { input: loadInput, output: loadOutputSchema, description: "write the first valid copy of each order" },
  )
  .register(
    "summarize",
    (input: LoadOutput) => ({ day: input.day, loaded: input.loaded, summary: formatSummary(input) }),
    { input: loadOutputSchema, output: reportOutputSchema, description: "format the day's report" },
  );

/**
 * The run's final state and output for `input`, computed directly from the source
 * records (no CSV, no executors): what an embedded run of examples/etl.ts must return.
 * @example expectedEtl({ day: "2026-11-01", rows: 200, seed: 7 }).state // "report"
 */
export function expectedEtl(input: EtlInput): { state: "report" | "empty"; output: Record<string, unknown> } {
  const records = generateRecords(input.rows, input.seed);
  const ids = records.map((r) => r[0]!);
  const duplicates = ids.length - new Set(ids).size;
  const kept = new Map<string, number>();
  let rejected = 0;
  for (const [id = "", customer = "", amount = ""] of records) {
    const ok = customer !== "" && /^\d+\.\d{2}$/.test(amount);
    if (!ok) rejected++;
    else if (!kept.has(id)) kept.set(id, Math.round(Number(amount) * 100));
  }
  const cents = [...kept.values()];
  const total = cents.reduce((a, b) => a + b, 0);
  const stats: Stats =
    cents.length === 0
      ? { count: 0, mean: null, min: null, max: null }
      : {
          count: cents.length,
          mean: Math.round(total / cents.length) / 100,
          min: cents.reduce((a, b) => (b < a ? b : a)) / 100,
          max: cents.reduce((a, b) => (b > a ? b : a)) / 100,
        };
  const load: LoadOutput = {
    day: input.day,
    loaded: kept.size,
    rejected,
    duplicates,
    stats,
    checksum: fnv1a([...kept].map(([id, c]) => `${id}:${c}`).join("|")).toString(16).padStart(8, "0"),
  };
  if (load.loaded === 0) return { state: "empty", output: load };
  return { state: "report", output: { day: load.day, loaded: load.loaded, summary: formatSummary(load) } };
}
