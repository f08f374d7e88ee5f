/**
 * Turns results in the `BenchResult` shape (a row per subject, plus a ratio row per
 * case, as bench/compile.ts returns them) into `Comparison`s, so `bench/run.ts` prints
 * every bench as the same kind of table: case, phaseflow figure, baseline figure, ratio.
 */
import type { Comparison } from "./compare.js";
import type { BenchResult } from "./table.js";

/**
 * One comparison per case and figure. The subject whose name starts with "ratio" gives
 * the ratio (NaN where that bench chose not to divide); of the other two, the one
 * named "baseline" is the baseline. Every figure is taken as lower-is-better.
 * @example printComparisons("compile", comparisonsFromResults(await runCompileBench()));
 */
export function comparisonsFromResults(results: readonly BenchResult[]): Comparison[] {
  const cases = [...new Set(results.map((r) => r.case))];
  const out: Comparison[] = [];
  for (const c of cases) {
    const rows = results.filter((r) => r.case === c);
    const ratioRow = rows.find((r) => r.subject.startsWith("ratio"));
    const base = rows.find((r) => r !== ratioRow && r.subject.includes("baseline"));
    const pf = rows.find((r) => r !== ratioRow && r !== base);
    if (!pf || !base) continue;
    for (const figure of Object.keys(pf.figures)) {
      const [unit, ...rest] = figure.split(" ").reverse();
      const phaseflow = pf.figures[figure] ?? Number.NaN;
      const baseline = base.figures[figure] ?? Number.NaN;
      out.push({
        bench: pf.bench,
        case: `${c}: ${rest.reverse().join(" ")}`,
        unit: unit ?? "",
        better: "lower",
        baselineLabel: base.subject,
        phaseflow,
        baseline,
        ratio: ratioRow?.figures[figure] ?? (baseline === 0 ? Number.NaN : phaseflow / baseline),
        samples: { phaseflow: pf.samples[figure] ?? [], baseline: base.samples[figure] ?? [] },
        notes: [...new Set(rows.flatMap((r) => r.notes ?? []))],
      });
    }
  }
  return out;
}
