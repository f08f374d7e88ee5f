/**
 * The tiny problem domain of the `agents` example: sorting-like list tasks, the
 * spec an agent designs for them, and the programs it "writes" (a choice of real
 * sorting algorithm plus a comparator), run for real by the test step.
 */

export type Order = "asc" | "desc";
export type SortKey = "value" | "length";
export interface Spec {
  order: Order;
  key: SortKey;
  unique: boolean;
}
export type Item = number | string;

export const PROBLEMS = {
  "sort-asc": { statement: "Sort the numbers from smallest to largest.", spec: { order: "asc", key: "value", unique: false }, items: "numbers" },
  "sort-desc": { statement: "Sort the numbers from largest to smallest.", spec: { order: "desc", key: "value", unique: false }, items: "numbers" },
  "unique-asc": { statement: "List each distinct number once, smallest first.", spec: { order: "asc", key: "value", unique: true }, items: "numbers" },
  "by-length": { statement: "Order the words by length, shortest first; equal lengths alphabetically.", spec: { order: "asc", key: "length", unique: false }, items: "words" },
} as const satisfies Record<string, { statement: string; spec: Spec; items: "numbers" | "words" }>;
export type Problem = keyof typeof PROBLEMS;
export const PROBLEM_NAMES = Object.keys(PROBLEMS) as Problem[];

const keyOf = (key: SortKey, x: Item): number | string => (key === "length" ? String(x).length : x);

/** Comparator for a spec: by key in the spec's order, ties by value ascending. */
export function comparator(spec: Spec): (a: Item, b: Item) => number {
  const cmp = (a: number | string, b: number | string): number => (a < b ? -1 : a > b ? 1 : 0);
  return (a, b) => {
    const primary = cmp(keyOf(spec.key, a), keyOf(spec.key, b));
    return (spec.order === "asc" ? primary : -primary) || cmp(a, b);
  };
}

export function insertionSort<T>(xs: readonly T[], cmp: (a: T, b: T) => number): T[] {
  const out = [...xs];
  for (let i = 1; i < out.length; i++) {
    const x = out[i]!;
    let j = i - 1;
    while (j >= 0 && cmp(out[j]!, x) > 0) {
      out[j + 1] = out[j]!;
      j--;
    }
    out[j + 1] = x;
  }
  return out;
}

export function mergeSort<T>(xs: readonly T[], cmp: (a: T, b: T) => number): T[] {
  if (xs.length <= 1) return [...xs];
  const mid = xs.length >> 1;
  const a = mergeSort(xs.slice(0, mid), cmp);
  const b = mergeSort(xs.slice(mid), cmp);
  const out: T[] = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) out.push(cmp(a[i]!, b[j]!) <= 0 ? a[i++]! : b[j++]!);
  return [...out, ...a.slice(i), ...b.slice(j)];
}

export interface Program {
  algorithm: "insertion" | "merge";
  spec: Spec;
  /** What the program looks like, for humans. */
  source: string;
}

/** Run a program on one input list. */
export function runProgram(program: Program, input: readonly Item[]): Item[] {
  const xs = program.spec.unique ? [...new Set(input)] : input;
  const sort = program.algorithm === "merge" ? mergeSort : insertionSort;
  return sort(xs, comparator(program.spec));
}

/** The reference answer of a problem (independent of any program). */
export function solve(problem: Problem, input: readonly Item[]): Item[] {
  const spec: Spec = PROBLEMS[problem].spec;
  const xs = spec.unique ? [...new Set(input)] : [...input];
  return xs.sort(comparator(spec));
}

/**
 * What an agent learns from one failing case: the first symptom it sees.
 * Different length -> the uniqueness is wrong; keys in reverse -> the order is
 * wrong; otherwise the sort key is wrong.
 */
export function diagnose(spec: Spec, failure: { expected: readonly Item[]; got: readonly Item[] }): Spec {
  if (failure.expected.length !== failure.got.length) return { ...spec, unique: !spec.unique };
  const keys = (xs: readonly Item[]): string => xs.map((x) => String(keyOf(spec.key, x))).join(",");
  if (keys([...failure.expected].reverse()) === keys(failure.got)) return { ...spec, order: spec.order === "asc" ? "desc" : "asc" };
  return { ...spec, key: spec.key === "value" ? "length" : "value" };
}
