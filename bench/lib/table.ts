/**
 * Readable tables for bench output, and the result shape every bench returns so
 * `bench/run.ts` can collect and print them together.
 */

/** One measured subject of one bench case. */
export interface BenchResult {
  /** Bench name, e.g. "compile". */
  bench: string;
  /** The input, e.g. "100,000 tasks / 300,000 edges". */
  case: string;
  /** What was measured, e.g. "phaseflow compile()". */
  subject: string;
  /** Median figures keyed by name with unit, e.g. `{ "time ms": 812, "peak RSS MB": 240 }`. */
  figures: Record<string, number>;
  /** The samples behind each figure (same keys); absent for derived figures such as ratios. */
  samples: Record<string, number[]>;
  notes?: string[];
}

export type Cell = string | number | null | undefined;

/** Format a number for a table: thousands separators, `digits` decimals (default 1), "-" for missing. */
export function fmt(value: Cell, digits = 1): string {
  if (value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) return "-";
  if (typeof value === "string") return value;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * Render rows as an aligned text table (numbers right-aligned).
 * @example console.log(renderTable(["case", "ms"], [["10k", 81.2]]));
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => headers.map((_, i) => fmt(r[i])));
  const numeric = headers.map((_, i) => rows.every((r) => typeof r[i] === "number" || r[i] === null || r[i] === undefined));
  const width = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join("  ").trimEnd();
  return [line(headers), width.map((w) => "-".repeat(w)).join("  "), ...text.map(line)].join("\n");
}

/** Print rows as a table on stdout, with an optional title line. */
export function printTable(headers: readonly string[], rows: readonly (readonly Cell[])[], title?: string): void {
  if (title !== undefined) console.log(`\n${title}`);
  console.log(renderTable(headers, rows));
}

/**
 * Print bench results as one table: a row per (case, subject), a column per figure.
 * @example printResults(await runCompileBench());
 */
export function printResults(results: readonly BenchResult[], title?: string): void {
  const figureNames = [...new Set(results.flatMap((r) => Object.keys(r.figures)))];
  printTable(
    ["bench", "case", "subject", ...figureNames],
    results.map((r) => [r.bench, r.case, r.subject, ...figureNames.map((f) => r.figures[f])]),
    title,
  );
  const notes = results.flatMap((r) => r.notes ?? []);
  for (const note of [...new Set(notes)]) console.log(`  note: ${note}`);
}
