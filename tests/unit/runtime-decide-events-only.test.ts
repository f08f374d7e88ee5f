/**
 * `evolve` is the only writer of run state: `decide` emits events (folded as it goes)
 * and effects, nothing else. So the decider's state after any decision is exactly a
 * fresh fold of the events it stored and the reports it read (the attempts' tokens
 * aside: those only the decider knows). And a coordinator that cannot drive a run
 * ends it through `decide` too, with a `fail` trigger, on a fold without a model.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { PlanMismatchError } from "../../src/errors/base.js";
import { serializeError } from "../../src/errors/serialize.js";
import { decide, type DecideRandom, type Decided } from "../../src/runtime/core/decide.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { createRunState, evolve, foldEvents, type RunState } from "../../src/runtime/core/run-state.js";
import { WIRE_VERSION, type ReportRunEvent, type RunEvent, type StoredMessage, type TaskMessage } from "../../src/transport/messages.js";

const runId = "r1";
const T0 = 1_000_000;

function fixedRandom(): DecideRandom {
  let n = 0;
  return { jitter: () => 0.5, token: () => `t-${String(++n).padStart(16, "0")}` };
}

/** What a reader can see of a state: everything but the decider's own tokens. */
function view(st: RunState): unknown {
  const v = st.visit;
  return {
    record: JSON.parse(JSON.stringify(st.record)) as unknown,
    round: st.round,
    epoch: st.epoch,
    through: st.through,
    entries: st.entries,
    refused: st.refused,
    attempts: [...st.attempts.values()].map(({ token: _secret, task, ...a }) => ({ ...a, task: task.id })),
    verdicts: [...st.verdicts.keys()],
    visit: v && {
      state: v.state,
      visit: v.visit,
      phase: v.phase,
      open: v.open,
      phaseOpen: [...v.phaseOpen],
      outputs: [...v.outputs],
      failures: [...v.failures],
      ready: [...v.ready],
      tasks: [...v.tasks].map(([name, t]) => ({ name, status: t.status, attempts: t.attempts, firstAttempt: t.firstAttempt, lost: t.lost, waitingFor: t.waitingFor, instance: t.instance, record: t.record?.id })),
    },
  };
}

/**
 * Run `wf` to its end on decide alone: every dispatched attempt is reported back in
 * order, failing when `fails(task)`. After each decision the decider's state is
 * compared with a fresh fold of everything stored so far.
 */
function runChecked(wf: Workflow<unknown>, options: { schedule: "phases" | "eager"; onFailure: "fail-fast" | "continue" }, fails: (task: string) => boolean): { st: RunState; stored: RunEvent[]; decisions: number } {
  const model = runModelOf(compile(wf), wf);
  const st = createRunState(runId, model);
  const random = fixedRandom();
  const stored: RunEvent[] = [];
  const queue: TaskMessage[] = [];
  let decisions = 0;
  let seq = 0;
  const take = (d: Decided): void => {
    decisions++;
    stored.push(...d.stamped);
    for (const fx of d.effects) if (fx.type === "dispatch") queue.push(fx.message);
    expect(view(st)).toEqual(view(foldEvents(createRunState(runId, model), stored)));
  };
  take(decide(st, { type: "start", input: { n: 2 }, options, owner: "c1", epoch: 1 }, T0, random));
  for (let m = queue.shift(); m !== undefined; m = queue.shift()) {
    const base = { runId, at: T0 + seq, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, token: m.token, workerId: "w1", durationMs: 1, seq: ++seq };
    const r: ReportRunEvent = fails(m.task) ? { ...base, type: "attempt.failed", error: serializeError(Object.assign(new Error(`${m.task} broke`), { retryable: false })) } : { ...base, type: "attempt.succeeded", output: { from: m.task } };
    evolve(st, r);
    stored.push(r);
    take(decide(st, { type: "report", dispatchId: r.dispatchId }, T0 + seq, random));
  }
  return { st, stored, decisions };
}

/**
 * a -> b, a -> m (a map over three items, one of which its input schema refuses,
 * tolerated), b + m -> c; x alone in the first phase, y after x; z after y. When x
 * fails under "continue", y and z are skipped ahead of their phases.
 */
function house(): Workflow<unknown> {
  const wf = workflow("house", { version: "1" });
  const s = wf.state("s");
  const a = s.task("a", { executor: "t/a" });
  const b = s.task("b", { executor: "t/b" });
  const m = s.map("m", { executor: "t/m", items: () => [1, 2, 99], input: z.number().max(10), toleratedFailures: 1 });
  const c = s.task("c", { executor: "t/c" });
  a.then(b);
  a.then(m);
  c.dependsOn(b, m);
  const x = s.task("x", { executor: "t/x" });
  const y = s.task("y", { executor: "t/y" });
  const z2 = s.task("z", { executor: "t/z" });
  x.then(y).then(z2);
  return wf;
}

describe("runtime - decide only emits events", () => {
  for (const schedule of ["phases", "eager"] as const) {
    for (const onFailure of ["fail-fast", "continue"] as const) {
      it(`runtime - the decider's state is a fold of what it stored, at every step (${schedule}, ${onFailure})`, () => {
        const ok = runChecked(house(), { schedule, onFailure }, () => false);
        expect(ok.st.record.status).toBe("succeeded");
        expect(ok.st.record.tasks.find((t) => t.task === "m[2]")).toMatchObject({ status: "failed", error: { code: "TASK_INPUT_INVALID" } });
        const failing = runChecked(house(), { schedule, onFailure }, (task) => task === "x");
        expect(failing.st.record.status).toBe("failed");
        if (onFailure === "continue") expect(failing.st.record.tasks.filter((t) => t.status === "skipped").map((t) => t.task)).toEqual(["y", "z"]);
      });
    }
  }

  it("runtime - a coordinator-side failure is a decide trigger: on a fold without a model it decides run.failed, which folds to a failed run", () => {
    const wf = workflow("lost", { version: "1" });
    wf.state("s").task("a", { executor: "t/a" });
    const st = createRunState(runId, runModelOf(compile(wf), wf));
    const first = decide(st, { type: "start", input: {}, options: { schedule: "phases", onFailure: "fail-fast" }, owner: "c1", epoch: 1 }, T0, fixedRandom());
    const messages: StoredMessage[] = [{ seq: 1, message: { v: WIRE_VERSION, kind: "decision", runId, by: "c1", epoch: 1, through: 0, at: T0, events: first.events } }];

    // What a coordinator that cannot load the run's plan does: fold the history bare, decide `fail`.
    const bare = foldEvents(createRunState(runId), historyEvents(messages));
    expect(bare.model).toBeUndefined();
    const error = serializeError(new PlanMismatchError(runId, "lost", "other-hash", "served-hash"));
    const failed = decide(bare, { type: "fail", error }, T0 + 5, fixedRandom());
    expect(failed.events).toEqual([{ type: "run.failed", error }]);
    expect(failed.effects).toEqual([]);
    expect(bare.record).toMatchObject({ status: "failed", error: { code: "PLAN_MISMATCH" }, finishedAt: T0 + 5 });

    // Stored as a decision, every reader's fold agrees.
    messages.push({ seq: 2, message: { v: WIRE_VERSION, kind: "decision", runId, by: "c2", epoch: 0, through: bare.through, at: T0 + 5, events: failed.events } });
    expect(recordOfHistory(messages)).toEqual(bare.record);
    // A run that has ended already is left as it is.
    expect(decide(bare, { type: "fail", error }, T0 + 6, fixedRandom()).events).toEqual([]);
  });
});
