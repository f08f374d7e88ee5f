/**
 * Resume is live code (STYLE 15, DESIGN §3): random workflows are run uninterrupted on
 * a memory hub, then their histories are cut after random stored messages, copied into
 * a fresh hub (its work queue empty, as after losing everything but the history) and
 * resumed by a fresh coordinator and worker. The resumed run must end like the
 * uninterrupted one, and no task whose success the cut history holds may run again.
 *
 * Executors are deterministic: a task's output is a function of its input, and a
 * task fails its first `failFirst` tries in each visit (counted from the failures the
 * history holds, so an attempt lost at the cut and re-dispatched by the watchdog does
 * not shift the plan). Tasks with `failFirst > retries` fail for good.
 *
 * fast-check prints the seed and the shrunk counterexample of a failure; replay it with
 * `fc.assert(..., { seed, path })`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { createRunState, evolve } from "../../src/runtime/core/run-state.js";
import type { TaskContext } from "../../src/registry/types.js";
import type { StoredMessage } from "../../src/transport/messages.js";
import { createCluster, type Cluster } from "./runtime-recovery-support.js";

interface TaskSpec {
  /** Indices of earlier tasks of the state this one depends on. */
  deps: number[];
  retries: number;
  failFirst: number;
  /** Has an output schema: its success is judged (task.succeeded is stored after the report). */
  judged: boolean;
  /** A map node over three items (never the first task, which may route); its instances fail like the task would. */
  map: boolean;
}

type Exit =
  | { kind: "next" }
  /** Loop back while the state output's counter is below `bound`. */
  | { kind: "loop"; bound: number }
  /** Loop back always: the run fails with MAX_VISITS_EXCEEDED. */
  | { kind: "loopMax" }
  /** The first task routes: an even counter goes on, an odd one comes back (bounded by maxVisits). */
  | { kind: "route" };

interface StateSpec {
  tasks: TaskSpec[];
  exit: Exit;
  maxVisits: number;
}

interface Spec {
  states: StateSpec[];
  schedule: "phases" | "eager";
  onFailure: "fail-fast" | "continue";
}

const taskSpec = (index: number): fc.Arbitrary<TaskSpec> =>
  fc.integer({ min: 0, max: 2 }).chain((retries) =>
    fc.record({
      deps: index === 0 ? fc.constant([]) : fc.uniqueArray(fc.integer({ min: 0, max: index - 1 }), { maxLength: 2 }),
      retries: fc.constant(retries),
      // Mostly within the retries (the task succeeds in the end), sometimes one more (it fails for good).
      failFirst: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: retries }) }, { weight: 1, arbitrary: fc.constant(retries + 1) }),
      judged: fc.boolean(),
      map: index === 0 ? fc.constant(false) : fc.boolean(),
    }),
  );

const stateSpec: fc.Arbitrary<StateSpec> = fc.record({
  tasks: fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => taskSpec(i)))),
  exit: fc.oneof(
    { weight: 4, arbitrary: fc.constant<Exit>({ kind: "next" }) },
    { weight: 2, arbitrary: fc.integer({ min: 2, max: 4 }).map<Exit>((bound) => ({ kind: "loop", bound })) },
    { weight: 1, arbitrary: fc.constant<Exit>({ kind: "loopMax" }) },
    { weight: 2, arbitrary: fc.constant<Exit>({ kind: "route" }) },
  ),
  maxVisits: fc.integer({ min: 2, max: 3 }),
});

const spec: fc.Arbitrary<Spec> = fc.record({
  states: fc.array(stateSpec, { minLength: 1, maxLength: 3 }),
  schedule: fc.constantFrom("phases" as const, "eager" as const),
  onFailure: fc.constantFrom("fail-fast" as const, "continue" as const),
});

const counterOf = (value: unknown): number => {
  const n = (value as { n?: unknown } | null | undefined)?.n;
  return typeof n === "number" ? n : 0;
};

/** The workflow of a spec: states s0, s1, ... (and "end", a final state with no tasks, when a loop or route leaves the last one). */
function build(s: Spec): Workflow<unknown> {
  const wf = workflow("prop", { version: "1" });
  const states = s.states.map((st, i) => wf.state(`s${i}`, { maxVisits: st.exit.kind === "next" ? 10 : st.maxVisits }));
  let end: ReturnType<typeof wf.state> | undefined;
  const after = (i: number) => states[i + 1] ?? (end ??= wf.state("end", { final: true }));
  s.states.forEach((st, i) => {
    const state = states[i]!;
    const tasks = st.tasks.map((t, j) => {
      const options = {
        executor: "t/work" as const,
        retries: t.retries,
        backoff: { initialMs: 100, maxMs: 1000, factor: 2 },
        ...(t.judged ? { output: z.looseObject({ n: z.number() }) } : {}),
      };
      return t.map ? state.map(`t${j}`, { ...options, items: (input: unknown) => [0, 1, 2].map((k) => ({ n: counterOf(input) + k })), maxConcurrency: 2 }) : state.task(`t${j}`, options);
    });
    st.tasks.forEach((t, j) => {
      if (t.deps.length > 0) tasks[j]!.dependsOn(...t.deps.map((d) => tasks[d]!));
    });
    switch (st.exit.kind) {
      case "next":
        if (i + 1 < states.length) state.transition(states[i + 1]!);
        break;
      case "loop": {
        const bound = st.exit.bound;
        state.transition(state, { when: (o) => counterOf(o) < bound });
        state.transition(after(i));
        break;
      }
      case "loopMax":
        state.transition(state, { when: () => true });
        state.transition(after(i));
        break;
      case "route":
        state.route(tasks[0]!, { even: after(i), odd: state });
        break;
    }
  });
  return wf;
}

const keyOf = (state: string, visit: number, task: string): string => `${state}/${visit}/${task}`;

/** Register the deterministic executor on `cluster`; `failures` counts each task visit's failed tries so far. */
function register(cluster: Cluster, s: Spec, failures: Map<string, number>, executions: Map<string, number>): void {
  cluster.registry.namespace("t").register("work", (input: unknown, ctx: TaskContext) => {
    const t = s.states[Number(ctx.state.slice(1))]!.tasks[Number(ctx.task.replace(/\[\d+\]$/, "").slice(1))]!;
    const key = keyOf(ctx.state, ctx.visit, ctx.task);
    executions.set(key, (executions.get(key) ?? 0) + 1);
    const failed = failures.get(key) ?? 0;
    if (failed < t.failFirst) {
      failures.set(key, failed + 1);
      throw new Error(`planned failure ${failed + 1} of ${key}`);
    }
    const n = counterOf(input) + 1;
    return ctx.task === "t0" ? { n, t0: ctx.visit, pathway: n % 2 === 0 ? "even" : "odd" } : { n, [ctx.task]: ctx.visit };
  });
}

interface Outcome {
  record: RunRecord;
  history: StoredMessage[];
  executions: Map<string, number>;
}

const RUN_ID = "prop-run";

async function runUninterrupted(s: Spec, wf: Workflow<unknown>): Promise<Outcome> {
  const c = createCluster({ wire: "strict" });
  try {
    const failures = new Map<string, number>();
    const executions = new Map<string, number>();
    register(c, s, failures, executions);
    await c.startWorker();
    const run = await c.coordinator().run(wf, { n: 0 }, { runId: RUN_ID, schedule: s.schedule, onFailure: s.onFailure });
    let finished: RunRecord | undefined;
    void run.result().then((r) => (finished = r));
    await c.drive(RUN_ID, () => finished !== undefined);
    return { record: finished!, history: await c.history(RUN_ID), executions };
  } finally {
    await c.close();
  }
}

/** What the first k messages hold: the task visits stored as succeeded, and the failed tries the fold accepted. */
function heldBy(wf: Workflow<unknown>, prefix: readonly StoredMessage[]): { succeeded: Set<string>; failures: Map<string, number> } {
  const st = createRunState(RUN_ID, runModelOf(compile(wf), wf));
  const failures = new Map<string, number>();
  for (const e of historyEvents(prefix)) {
    const refused = st.refused;
    evolve(st, e);
    if (e.type === "attempt.failed" && st.refused === refused) {
      const key = keyOf(e.state, e.visit, e.task);
      failures.set(key, (failures.get(key) ?? 0) + 1);
    }
  }
  const succeeded = new Set<string>();
  for (const t of st.tasks.values()) if (t.status === "succeeded") succeeded.add(keyOf(t.state, t.visit, t.task));
  // A judged success waiting for its verdict is held too: resume judges it, it must not run again.
  for (const v of st.verdicts.values()) if (v.kind === "succeeded") succeeded.add(keyOf(v.attempt.task.state, v.attempt.task.visit, v.attempt.task.task));
  return { succeeded, failures };
}

async function resumeFrom(s: Spec, wf: Workflow<unknown>, prefix: readonly StoredMessage[], failures: Map<string, number>): Promise<Outcome> {
  const c = createCluster({ wire: "strict", start: 2_000_000 });
  try {
    const executions = new Map<string, number>();
    register(c, s, new Map(failures), executions);
    await c.seed(prefix);
    await c.startWorker();
    const run = await c.coordinator().resume(wf, await c.history(RUN_ID));
    let finished: RunRecord | undefined;
    void run.result().then((r) => (finished = r));
    await c.drive(RUN_ID, () => finished !== undefined);
    return { record: finished!, history: await c.history(RUN_ID), executions };
  } finally {
    await c.close();
  }
}

/**
 * What must be the same however the run was interrupted. Which tasks succeed is fixed
 * too, except when fail-fast stops a visit: then the siblings that finished before the
 * failure was decided depend on timing (they are cancelled, or not), live as on resume.
 */
function ending(record: RunRecord, onFailure: Spec["onFailure"]) {
  const timingDependent = record.status === "failed" && onFailure === "fail-fast";
  return {
    status: record.status,
    output: record.output,
    errorCode: record.error?.code,
    states: record.states.map((s) => [s.name, s.visit, s.status, s.output]),
    succeeded: timingDependent ? "(timing)" : record.tasks.filter((t) => t.status === "succeeded").map((t) => keyOf(t.state, t.visit, t.task)).sort(),
  };
}

describe("runtime - resume property", () => {
  it("runtime - a random run cut after any stored message and resumed on a fresh hub ends as the uninterrupted run, re-running no stored success", async () => {
    await fc.assert(
      fc.asyncProperty(spec, fc.array(fc.nat(), { minLength: 1, maxLength: 3 }), async (s, cuts) => {
        const wf = build(s);
        const full = await runUninterrupted(s, wf);
        expect(["succeeded", "failed"]).toContain(full.record.status);
        const once = ending(full.record, s.onFailure);
        for (const cut of cuts) {
          const k = 1 + (cut % full.history.length);
          const prefix = full.history.slice(0, k);
          const held = heldBy(wf, prefix);
          const resumed = await resumeFrom(s, wf, prefix, held.failures);
          const where = `cut after ${k} of ${full.history.length} stored messages`;
          expect(ending(resumed.record, s.onFailure), where).toEqual(once);
          for (const key of held.succeeded) expect(resumed.executions.get(key) ?? 0, `${where}: ${key} ran again`).toBe(0);
          // The resumed history extends the cut one; nothing stored is changed.
          expect(resumed.history.slice(0, k), where).toEqual(prefix);
        }
      }),
      { numRuns: 100, interruptAfterTimeLimit: 15_000 },
    );
  }, 30_000);
});
