/**
 * phaseflow against a baseline measured in the same run: the result shape of the
 * embedded and NATS benches, the ratio (always phaseflow / baseline, so a reader
 * never has to guess which way round it is), an optional goal the ratio should
 * meet, and one table per bench with case, phaseflow figure, baseline figure, ratio.
 */
import { median } from "./stats.js";

/**
 * What a ratio must satisfy, e.g. `{ op: ">=", value: 0.5 }` for throughput; with
 * `of: "phaseflow"`, what phaseflow's own figure must satisfy instead (e.g. at most
 * 2 stored messages per task, whatever the baseline needs).
 */
export interface Goal {
  op: ">=" | "<=";
  value: number;
  /** The figure the goal is on. Default "ratio". */
  of?: "ratio" | "phaseflow";
}

/** The figure `goal` is judged on: the ratio, or phaseflow's own figure. */
export function goalFigure(c: Pick<Comparison, "ratio" | "phaseflow" | "goal">): number {
  return c.goal?.of === "phaseflow" ? c.phaseflow : c.ratio;
}

/** One case of a bench: phaseflow and its baseline on the same input, same machine, same run. */
export interface Comparison {
  /** Bench name, e.g. "embedded". */
  bench: string;
  /** The input, e.g. "wide: 10,000 no-op tasks in one phase". */
  case: string;
  /** Unit of both figures, e.g. "tasks/s" or "ms/phase". */
  unit: string;
  /** Whether a higher figure is better (throughput) or a lower one (latency). */
  better: "higher" | "lower";
  /** What the baseline is, in a few words. */
  baselineLabel: string;
  /** Median of `samples.phaseflow`. */
  phaseflow: number;
  /** Median of `samples.baseline`. */
  baseline: number;
  /** phaseflow / baseline. */
  ratio: number;
  goal?: Goal | undefined;
  /** Whether the goal is met (undefined without a goal). */
  met?: boolean | undefined;
  /** Per-run figures behind the medians, in `unit`. */
  samples: { phaseflow: number[]; baseline: number[] };
  notes?: string[];
}

export interface ComparisonInput {
  bench: string;
  case: string;
  unit: string;
  better: "higher" | "lower";
  baselineLabel: string;
  samples: { phaseflow: number[]; baseline: number[] };
  goal?: Goal;
  notes?: string[];
}

/**
 * Build a comparison from per-run figures: medians, ratio and goal verdict.
 * @example
 * const c = compare({ bench: "embedded", case: "wide", unit: "tasks/s", better: "higher", baselineLabel: "Promise loop",
 *   samples: { phaseflow: [900, 1000, 1100], baseline: [9000, 10000, 11000] } });
 * c.ratio // 0.1
 */
export function compare(input: ComparisonInput): Comparison {
  const phaseflow = median(input.samples.phaseflow);
  const baseline = median(input.samples.baseline);
  const ratio = baseline === 0 ? Number.NaN : phaseflow / baseline;
  const figure = goalFigure({ ratio, phaseflow, goal: input.goal });
  const met = input.goal === undefined ? undefined : input.goal.op === ">=" ? figure >= input.goal.value : figure <= input.goal.value;
  return { ...input, phaseflow, baseline, ratio, met };
}

/** Convert a run of `count` items that took `ms` into items per second. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.NaN;
}

/** A figure with up to 4 significant digits: 12,345 / 123.4 / 1.234 / 0.01234. */
export function sig(value: number): string {
  if (!Number.isFinite(value)) return "-";
  const abs = Math.abs(value);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 10 ? 2 : abs >= 1 ? 3 : Math.min(6, 3 - Math.floor(Math.log10(abs || 1)));
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function goalText(c: Comparison): string {
  if (c.goal === undefined) return "";
  return `${c.goal.of === "phaseflow" ? "value " : ""}${c.goal.op} ${c.goal.value} ${c.met === true ? "met" : "NOT met"}`;
}

/**
 * Render comparisons as one table: case, unit, phaseflow, baseline, ratio, goal, and the runs behind the medians.
 * @example console.log(renderComparisons(results));
 */
export function renderComparisons(rows: readonly Comparison[]): string {
  const headers = ["case", "unit", "phaseflow", "baseline", "ratio pf/base", "goal", "runs"];
  const right = [false, false, true, true, true, false, true];
  const text = rows.map((c) => [c.case, c.unit, sig(c.phaseflow), sig(c.baseline), Number.isFinite(c.ratio) ? `${sig(c.ratio)}x` : "-", goalText(c), String(c.samples.phaseflow.length)]);
  const width = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => (right[i] ? cell.padStart(width[i]!) : cell.padEnd(width[i]!))).join("  ").trimEnd();
  return [line(headers), width.map((w) => "-".repeat(w)).join("  "), ...text.map(line)].join("\n");
}

/** Print a titled table of comparisons, then what each baseline is, then the notes (each once). */
export function printComparisons(title: string, rows: readonly Comparison[]): void {
  console.log(`\n${title}`);
  console.log(renderComparisons(rows));
  const labels = [...new Set(rows.map((c) => c.baselineLabel))];
  if (labels.length === 1) console.log(`  baseline: ${labels[0]}`);
  else for (const c of rows) console.log(`  baseline of "${c.case}": ${c.baselineLabel}`);
  for (const note of [...new Set(rows.flatMap((r) => r.notes ?? []))]) console.log(`  note: ${note}`);
}
