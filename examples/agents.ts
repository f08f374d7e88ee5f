/**
 * Coding agents in a loop: design a spec, implement it, test it; when tests fail
 * and attempts remain, go back to design with the failures as feedback.
 *
 *   design:  design                      (revises the spec from the last failures)
 *   code:    implement
 *   test:    cases -> run-tests
 *   test -> done      when the tests passed
 *   test -> design    when they failed and attempts remain
 *   test -> gave-up   otherwise (fallback; final, no tasks: its output is the last test report)
 *
 * Guards are typed by the `test` state's output schema.
 *
 * Executors: workers/agents.ts (namespace "agents").
 *   phaseflow run examples/agents.ts --executors workers/agents.ts --input '{"problem":"sort-desc","seed":1}'
 */
import { z, workflow } from "phaseflow";

const problem = z.enum(["sort-asc", "sort-desc", "unique-asc", "by-length"]);
const spec = z.object({ order: z.enum(["asc", "desc"]), key: z.enum(["value", "length"]), unique: z.boolean() });
const item = z.union([z.number(), z.string()]);

/** The test report: everything the next design needs, plus the verdict. */
const testReport = z.object({
  problem,
  seed: z.number().int(),
  maxAttempts: z.number().int(),
  attempt: z.number().int(),
  spec,
  notes: z.string(),
  program: z.object({ algorithm: z.enum(["insertion", "merge"]), spec, source: z.string() }),
  passed: z.boolean(),
  total: z.number().int(),
  failures: z.array(z.object({ input: z.array(item), expected: z.array(item), got: z.array(item) })),
});

export const agents = workflow("agents", {
  version: "1",
  input: z.object({ problem, seed: z.number().int(), maxAttempts: z.number().int().min(1).max(5).default(3) }),
  description: "design -> code -> test, looping back to design until the tests pass",
});

const design = agents.state("design", { maxVisits: 5, description: "design or revise the spec" });
design.task("design", { executor: "agents/design", timeoutMs: 120_000 });

const code = agents.state("code", { description: "implement the spec" });
code.task("implement", { executor: "agents/implement", retries: 2, timeoutMs: 120_000 });

const test = agents.state("test", { output: testReport, description: "generate cases and run them" });
const cases = test.task("cases", { executor: "agents/cases" });
const runTests = test.task("run-tests", { executor: "agents/run-tests", output: testReport, timeoutMs: 60_000 });
cases.then(runTests);

const done = agents.state("done", { description: "release the passing program" });
done.task("release", { executor: "agents/release" });

design.transition(code);
code.transition(test);
test.transition(done, { when: (out) => out.passed, description: "tests passed" });
test.transition(design, { when: (out) => !out.passed && out.attempt < out.maxAttempts, description: "failed, attempts remain" });
test.transition(agents.state("gave-up", { final: true, description: "out of attempts" }));
