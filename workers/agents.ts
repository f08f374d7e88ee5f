/**
 * Executors of the `agents` example (examples/agents.ts), namespace `agents`: a
 * deterministic stand-in for a design / code / test loop of coding agents on a
 * tiny problem (sorting-like list tasks, see lib/sorting.ts).
 *
 *   design    -> a spec (order, key, unique). The first design carries 0, 1 or 2
 *                mistakes (a hash of problem and seed decides); later designs fix
 *                the first symptom the last test run showed.
 *   implement -> a program: merge sort or insertion sort plus the spec's comparator
 *   cases     -> test cases from a seeded PRNG, with reference answers
 *   run-tests -> runs the program on every case, reports failures
 *   release   -> the accepted program (state `done`)
 *
 * Each state's output carries the whole story forward (problem, attempt, spec,
 * program), since only the output of a state reaches the next one.
 * `expectedAgents` replays the loop without the executors.
 */
import { z, createRegistry } from "phaseflow";
import { deriveSeed, fnv1a, intBetween, mulberry32, pick } from "./lib/prng.js";
import { diagnose, PROBLEMS, runProgram, solve, type Item, type Problem, type Program, type Spec } from "./lib/sorting.js";

const problemSchema = z.enum(["sort-asc", "sort-desc", "unique-asc", "by-length"]);
export const agentsInputSchema = z.object({ problem: problemSchema, seed: z.number().int(), maxAttempts: z.number().int().min(1).max(5).default(3) });
export type AgentsInput = z.input<typeof agentsInputSchema>;
const specSchema = z.object({ order: z.enum(["asc", "desc"]), key: z.enum(["value", "length"]), unique: z.boolean() });
const itemSchema = z.union([z.number(), z.string()]);
const failureSchema = z.object({ input: z.array(itemSchema), expected: z.array(itemSchema), got: z.array(itemSchema) });
type Failure = z.infer<typeof failureSchema>;
const base = { problem: problemSchema, seed: z.number().int(), maxAttempts: z.number().int() };
const designInput = z.object({ ...base, maxAttempts: z.number().int().default(3), attempt: z.number().int().optional(), spec: specSchema.optional(), failures: z.array(failureSchema).optional() });
const designOutput = z.object({ ...base, attempt: z.number().int(), spec: specSchema, notes: z.string() });
const programSchema = z.object({ algorithm: z.enum(["insertion", "merge"]), spec: specSchema, source: z.string() });
const codeOutput = designOutput.extend({ program: programSchema });
const casesOutput = codeOutput.extend({ cases: z.array(z.object({ input: z.array(itemSchema), expected: z.array(itemSchema) })) });
export const testOutputSchema = codeOutput.extend({ passed: z.boolean(), total: z.number().int(), failures: z.array(failureSchema) });
export type TestOutput = z.infer<typeof testOutputSchema>;
export const releaseSchema = z.object({ problem: problemSchema, attempts: z.number().int(), algorithm: z.string(), source: z.string(), status: z.literal("passed") });

/** How many mistakes the first design makes for this problem and seed: 0, 1 or 2. */
export function initialMistakes(problem: Problem, seed: number): number {
  return fnv1a(`${problem}:${seed}`) % 3;
}

/** The first design: the problem's spec with 1 mistake (order flipped) or 2 (order and uniqueness flipped). */
export function firstDesign(problem: Problem, seed: number): Spec {
  const spec: Spec = { ...PROBLEMS[problem].spec };
  const m = initialMistakes(problem, seed);
  if (m >= 1) spec.order = spec.order === "asc" ? "desc" : "asc";
  if (m >= 2) spec.unique = !spec.unique;
  return spec;
}

export function implement(problem: Problem, spec: Spec): Program {
  const algorithm = PROBLEMS[problem].items === "words" ? "insertion" : "merge";
  const key = spec.key === "length" ? "x => String(x).length" : "x => x";
  const source = `xs => ${algorithm}Sort(${spec.unique ? "unique(xs)" : "xs"}, by(${key}, "${spec.order}"))`;
  return { algorithm, spec, source };
}

const WORDS = ["a", "to", "the", "tree", "apple", "banana", "kiwi", "fig", "grape", "melon", "plum", "cherry"];

/** Six cases, each with at least one repeated item, from a seed derived from the run seed. */
export function makeCases(problem: Problem, seed: number): { input: Item[]; expected: Item[] }[] {
  const rng = mulberry32(deriveSeed(seed, "cases"));
  return Array.from({ length: 6 }, () => {
    const n = intBetween(rng, 4, 9);
    const input: Item[] = Array.from({ length: n }, () => (PROBLEMS[problem].items === "words" ? pick(rng, WORDS) : intBetween(rng, 0, 9)));
    input.push(input[0]!);
    return { input, expected: solve(problem, input) };
  });
}

const sameList = (a: readonly Item[], b: readonly Item[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export const registry = createRegistry();

registry
  .namespace("agents")
  .register(
    "design",
    (input: z.infer<typeof designInput>) => {
      const first = input.attempt === undefined || input.spec === undefined;
      const failure = input.failures?.[0];
      const spec = first ? firstDesign(input.problem, input.seed) : failure ? diagnose(input.spec!, failure) : input.spec!;
      const notes = first ? PROBLEMS[input.problem].statement : `revised after ${input.failures?.length ?? 0} failing case(s)`;
      return { problem: input.problem, seed: input.seed, maxAttempts: input.maxAttempts, attempt: first ? 1 : input.attempt! + 1, spec, notes };
    },
    { input: designInput, output: designOutput, description: "design (or revise) the spec" },
  )
  .register("implement", (input: z.infer<typeof designOutput>) => ({ ...input, program: implement(input.problem, input.spec) }), {
    input: designOutput,
    output: codeOutput,
    description: "write the program for the spec",
  })
  .register("cases", (input: z.infer<typeof codeOutput>) => ({ ...input, cases: makeCases(input.problem, input.seed) }), {
    input: codeOutput,
    output: casesOutput,
    description: "generate test cases with reference answers",
  })
  .register(
    "run-tests",
    (input: z.infer<typeof casesOutput>, ctx): TestOutput => {
      const failures: Failure[] = [];
      input.cases.forEach((c, i) => {
        const got = runProgram(input.program, c.input);
        if (!sameList(got, c.expected)) failures.push({ input: c.input, expected: c.expected, got });
        ctx.progress(i + 1, input.cases.length);
      });
      const { cases: _cases, ...rest } = input;
      return { ...rest, passed: failures.length === 0, total: input.cases.length, failures };
    },
    { input: casesOutput, output: testOutputSchema, description: "run the program on every case" },
  )
  .register(
    "release",
    (input: TestOutput) => ({ problem: input.problem, attempts: input.attempt, algorithm: input.program.algorithm, source: input.program.source, status: "passed" as const }),
    { input: testOutputSchema, output: releaseSchema, description: "ship the program that passed" },
  );

/**
 * Replays the loop without the executors: the final state, how many attempts it
 * took, the last spec, and the run's output (the release for `done`, the last
 * test report for `gave-up`).
 * @example expectedAgents({ problem: "sort-desc", seed: 1 }) // { state: "done", attempts: 2, ... }
 */
export function expectedAgents(input: AgentsInput): { state: "done" | "gave-up"; attempts: number; spec: Spec; output: Record<string, unknown> } {
  const maxAttempts = input.maxAttempts ?? 3;
  const cases = makeCases(input.problem, input.seed);
  let spec = firstDesign(input.problem, input.seed);
  let notes: string = PROBLEMS[input.problem].statement;
  for (let attempt = 1; ; attempt++) {
    const program = implement(input.problem, spec);
    const failures = cases
      .map((c) => ({ input: c.input, expected: c.expected, got: runProgram(program, c.input) }))
      .filter((f) => !sameList(f.got, f.expected));
    if (failures.length === 0) {
      return { state: "done", attempts: attempt, spec, output: { problem: input.problem, attempts: attempt, algorithm: program.algorithm, source: program.source, status: "passed" } };
    }
    if (attempt >= maxAttempts) {
      const report = { problem: input.problem, seed: input.seed, maxAttempts, attempt, spec, notes, program, passed: false, total: cases.length, failures };
      return { state: "gave-up", attempts: attempt, spec, output: report };
    }
    spec = diagnose(spec, failures[0]!);
    notes = `revised after ${failures.length} failing case(s)`;
  }
}
