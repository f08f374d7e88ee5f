/**
 * The compact map fold (map-instances.ts) is a memory layout, not a rule: whatever a
 * map run does, a coordinator folding compactly must decide exactly what one folding
 * plain records decides, and every reader must see the same record. Random map runs are
 * driven through the pure decider on two states side by side (compact and plain), with a
 * simulated worker whose outcome per attempt is drawn from a seeded PRNG: success (an
 * output, null or none), a retryable or final failure, a lost attempt (the watchdog
 * re-dispatches it), a timeout (from a start heard of), a duplicate report, live progress; now and then a cancel,
 * a coordinator crash resumed from a cut of the stored history, and retries of a failed
 * run. After every step the two decisions, records, summaries and task look-ups must be
 * equal; at the end every cut of the history folds to equal records both ways.
 *
 * No real time (the clock is a number moved by the test) and no transport: fast.
 */
import { mulberry32 as prng } from "../../workers/lib/prng.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError } from "../../src/errors/base.js";
import { serializeError } from "../../src/errors/serialize.js";
import { decide, DEFAULT_DECIDE_SETTINGS, type DecideRandom, type Decided, type Trigger } from "../../src/runtime/core/decide.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import type { RunModel } from "../../src/runtime/core/run-model.js";
import { runRecordOf, snapshotRunRecord, summaryOf } from "../../src/runtime/core/run-record.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { createRunState, evolve, foldEvents, isFinished, taskRecordOf, type RunState, liveSignalApplies } from "../../src/runtime/core/run-state.js";
import { WIRE_VERSION, type LiveSignal, type ReportRunEvent, type RunEvent, type TaskMessage } from "../../src/transport/messages.js";

interface MapSpec {
  concurrency: number;
  retries: number;
  /** A count (>= 1) or a share (< 1) of the items. */
  tolerated: number;
  /** Has an output schema: a success is judged (an output without `k` fails it). */
  judged: boolean;
  timeout: boolean;
}

interface Spec {
  maps: MapSpec[];
  /** A task after the first map; with `loop`, its output brings the state back once. */
  post: boolean;
  loop: boolean;
  /** Items of the maps in the first and second visit (swapped in each go that re-runs pre). */
  counts: [number, number];
  schedule: "phases" | "eager";
  onFailure: "fail-fast" | "continue";
  seed: number;
}

const mapSpec: fc.Arbitrary<MapSpec> = fc.record({
  concurrency: fc.integer({ min: 1, max: 4 }),
  retries: fc.integer({ min: 0, max: 2 }),
  tolerated: fc.constantFrom(0, 0, 1, 2, 0.3),
  judged: fc.boolean(),
  timeout: fc.boolean(),
});

const spec: fc.Arbitrary<Spec> = fc.record({
  maps: fc.array(mapSpec, { minLength: 1, maxLength: 2 }),
  post: fc.boolean(),
  loop: fc.boolean(),
  counts: fc.tuple(fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: 9 }) }), fc.integer({ min: 0, max: 6 })),
  schedule: fc.constantFrom("phases" as const, "eager" as const),
  onFailure: fc.constantFrom("fail-fast" as const, "continue" as const),
  seed: fc.integer({ min: 1, max: 0x7fff_ffff }),
});


const counterOf = (value: unknown): number => {
  const n = (value as { n?: unknown } | null | undefined)?.n;
  return typeof n === "number" ? n : 0;
};

function build(s: Spec): Workflow<unknown> {
  const wf = workflow("compact-prop", { version: "1" });
  const state = wf.state("s", { maxVisits: 2 });
  const end = wf.state("end", { final: true });
  const pre = state.task("pre", { executor: "p/pre" });
  const maps = s.maps.map((m, i) =>
    state.map(`m${i}`, {
      executor: "p/item",
      items: (input: { count?: number }) => Array.from({ length: input.count ?? 0 }, (_, k) => ({ k })),
      maxConcurrency: m.concurrency,
      retries: m.retries,
      backoff: { initialMs: 10, maxMs: 10 },
      toleratedFailures: m.tolerated,
      ...(m.timeout ? { timeoutMs: 40 } : {}),
      ...(m.judged ? { output: z.looseObject({ k: z.number() }) } : {}),
    }),
  );
  for (const m of maps) pre.then(m);
  if (s.post || s.loop) state.task("post", { executor: "p/post" }).dependsOn(maps[0]!);
  if (s.loop) state.transition(state, { when: (o) => counterOf(o) < 2 });
  state.transition(end);
  return wf;
}

const RUN = "compact-prop-run";

/** What the generated runs went through, so the property is known to reach each case. */
const seen = { loops: 0, instanceRetries: 0, tolerated: 0, cancelledMidMap: 0, failFastInFlight: 0, resumes: 0, reruns: 0, concurrencyOne: 0, emptyMaps: 0, twoMaps: 0, timeouts: 0, lost: 0, recounted: 0 };

function tokens(): DecideRandom {
  let n = 0;
  return { jitter: () => 0.5, token: () => `tok-${String(++n).padStart(16, "0")}` };
}

/** The two folds agree: the record (text included), the summary, every task's look-up. */
function expectSame(a: RunState, b: RunState, where: string): void {
  const record = runRecordOf(a);
  expect(record, where).toEqual(b.record);
  expect(JSON.stringify(runRecordOf(a, { snapshot: true })), where).toBe(JSON.stringify(b.record));
  expect(summaryOf(a), where).toEqual(summaryOf(b));
  for (const t of b.record.tasks) expect(taskRecordOf(a, t.state, t.visit, t.task), `${where}: ${t.id}`).toEqual(t);
}

function simulate(s: Spec): void {
  const wf = build(s);
  const model: RunModel = runModelOf(compile(wf), wf);
  const rnd = prng(s.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  let a = createRunState(RUN, model, { compact: true });
  let b = createRunState(RUN, model);
  // Kept across a crash: the new holder's tokens go on from the old one's, both folds alike.
  const ra = tokens();
  const rb = tokens();
  let now = 1_000_000;
  let seq = 0;
  let epoch = 1;
  const settings = { ...DEFAULT_DECIDE_SETTINGS, watchdogMs: 200, maxLost: 2 };
  /** Every event folded, in order; `stored[i]`: the log's length after a whole batch or report (a cut point). */
  const log: RunEvent[] = [];
  const stored: number[] = [0];
  let jobs: TaskMessage[] = [];
  let timers = new Map<string, number>();
  let cancels = 0;
  let retries = Math.floor(rnd() * 3);
  /** Item counts by map node and visit: a re-run may expand a map to another count. */
  const counts = new Map<string, number>();
  const snapshots: { name: string; snapshot: RunRecord; text: string }[] = [];

  const both = (trigger: Trigger, where: string): void => {
    // One call site for both, so the stacks of the errors they decide are the same text.
    const run = (st: RunState, random: DecideRandom): Decided | Error => {
      try {
        return decide(st, trigger, now, random, settings);
      } catch (err) {
        return err as Error;
      }
    };
    const [da, db] = ([[a, ra], [b, rb]] as const).map(([st, random]) => run(st, random)) as [Decided | Error, Decided | Error];
    if (da instanceof Error || db instanceof Error) {
      const message = (d: Decided | Error): string => (d instanceof Error ? `${d.name}: ${d.message}` : "decided");
      expect(message(da), where).toBe(message(db));
      return;
    }
    expect(da.events, where).toEqual(db.events);
    expect(da.effects, where).toEqual(db.effects);
    log.push(...da.stamped);
    stored.push(log.length);
    for (const e of da.stamped) {
      if (e.type === "task.retrying" && e.task.includes("[")) seen.instanceRetries++;
      if (e.type === "task.cancelled" && e.task.includes("[")) {
        if (trigger.type === "cancel") seen.cancelledMidMap++;
        else seen.failFastInFlight++;
      }
      if (e.type === "map.items" && e.count === 0) seen.emptyMaps++;
      if (e.type === "map.items" && e.from === 0) {
        const key = `${e.state}/${e.visit}/${e.task}`;
        if (counts.has(key) && counts.get(key) !== e.count) seen.recounted++;
        counts.set(key, e.count);
      }
      if (e.type === "state.entered" && e.visit === 2) seen.loops++;
      if (e.type === "run.retried") seen.reruns++;
    }
    for (const fx of da.effects) {
      if (fx.type === "dispatch") jobs.push(fx.message);
      else if (fx.type === "timer") timers.set(fx.key, fx.at);
      else if (fx.type === "cancelTimer") timers.delete(fx.key);
      // A worker mostly stops what it is told to stop; now and then its report comes in anyway (refused).
      else if (fx.type !== "control") continue;
      else if (fx.message.type === "cancel.attempt" && rnd() < 0.8) jobs = jobs.filter((m) => m.dispatchId !== (fx.message as { dispatchId: string }).dispatchId);
      else if (fx.message.type === "cancel.run" && rnd() < 0.8) jobs = [];
    }
    expectSame(a, b, where);
  };

  const report = (m: TaskMessage, outcome: { output: unknown } | { error: Error }): void => {
    const base = { runId: RUN, at: now, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, token: m.token, workerId: pick(["w1", "w2", "w3"]), durationMs: pick([0, 3, 17, 0.5]), seq: ++seq };
    const r = ("output" in outcome ? { ...base, type: "attempt.succeeded", output: outcome.output } : { ...base, type: "attempt.failed", error: serializeError(outcome.error) }) as ReportRunEvent;
    evolve(a, r);
    evolve(b, r);
    log.push(r);
    stored.push(log.length);
    both({ type: "report", dispatchId: m.dispatchId }, `report ${m.dispatchId}`);
  };

  const outputOf = (m: TaskMessage): unknown => {
    // A re-run of pre (retry from it) expands the maps again, to the other count: more items or fewer.
    if (m.task === "pre") return { n: m.visit, count: s.counts[(m.visit - 1 + m.round) % 2] ?? 0 };
    if (m.task === "post") return { n: m.visit };
    const k = m.item?.index ?? -1;
    return pick([{ k }, { k }, { k, s: "x".repeat(k) }, null, undefined]);
  };

  /** The coordinator stops; a new one folds what was stored (all of it, or up to a cut) and resumes. */
  const crash = (): void => {
    const cut = rnd() < 0.5 ? log.length : pick(stored);
    log.length = cut;
    while (stored[stored.length - 1]! > cut) stored.pop();
    // Task messages are sent once their decision is stored: the worker holds none beyond the cut.
    const sent = new Set(log.flatMap((e) => (e.type === "task.dispatched" ? [e.dispatchId] : [])));
    jobs = jobs.filter((m) => sent.has(m.dispatchId));
    a = foldEvents(createRunState(RUN, model, { compact: true }), log);
    b = foldEvents(createRunState(RUN, model), log);
    expectSame(a, b, `fold at cut ${cut}`);
    timers = new Map();
    seen.resumes++;
    both({ type: "resume", owner: `c${++epoch}`, epoch }, `resume at ${cut}`);
  };

  both({ type: "start", input: { n: 0 }, options: { schedule: s.schedule, onFailure: s.onFailure }, owner: "c1", epoch: 1 }, "start");
  for (let step = 0; step < 400; step++) {
    now += 1 + Math.floor(rnd() * 15);
    const r = rnd();
    // What a reader was handed (handle.status()), mid-run or at an end, must not change as the run goes on.
    if (isFinished(b) || rnd() < 0.05) {
      for (const [st, name] of [[a, "compact"], [b, "plain"]] as const) {
        const snapshot = st.compact ? runRecordOf(st, { snapshot: true }) : snapshotRunRecord(st.record);
        snapshots.push({ name, snapshot, text: JSON.stringify(snapshot) });
      }
    }
    if (isFinished(b)) {
      if (b.record.status !== "failed" || retries-- <= 0) break;
      const from = rnd() < 0.5 ? undefined : { state: "s", task: pick(["pre", "m0", ...(s.maps.length > 1 ? ["m1"] : [])]) };
      jobs = [];
      timers = new Map();
      both({ type: "retry", from, owner: `c${++epoch}`, epoch }, `retry from ${JSON.stringify(from)}`);
      continue;
    }
    if (r < 0.03) {
      crash();
      continue;
    }
    if (r < 0.045 && cancels++ === 0) {
      both({ type: "cancel", reason: "stopped by the test" }, "cancel");
      continue;
    }
    if (jobs.length > 0 && (r < 0.9 || timers.size === 0)) {
      const i = Math.floor(rnd() * jobs.length);
      const m = jobs[i]!;
      const o = rnd();
      if (o < 0.08) {
        jobs.splice(i, 1); // lost: nothing is heard of it
        seen.lost++;
      } else if (o < 0.16) {
        // Live signals: not history, but both coordinators show them the same.
        const signal = { v: WIRE_VERSION as typeof WIRE_VERSION, runId: RUN, at: now, state: m.state, visit: m.visit, task: m.task, attempt: m.attempt, dispatchId: m.dispatchId, workerId: "w1" };
        const live: LiveSignal = o < 0.12 ? { ...signal, type: "attempt.started" } : { ...signal, type: "attempt.progress", done: 1, total: 2 };
        const applied = liveSignalApplies(a, live);
        expect(applied).toBe(liveSignalApplies(b, live));
        evolve(a, live);
        evolve(b, live);
        expectSame(a, b, `live ${m.dispatchId}`);
        // A start heard of: the shell tells the decider, whose timeout runs from it.
        if (applied && live.type === "attempt.started") both({ type: "started", dispatchId: m.dispatchId, startedAt: now }, `started ${m.dispatchId}`);
      } else if (o < 0.4 && m.task.includes("[")) {
        jobs.splice(i, 1);
        report(m, { error: rnd() < 0.5 ? new NonRetryableError(`item ${m.task} is bad`) : new Error(`item ${m.task} flaked`) });
      } else {
        jobs.splice(i, 1);
        const output = outputOf(m);
        report(m, { output });
        if (o > 0.95) report(m, { output }); // delivered twice: the second report is refused
      }
      continue;
    }
    if (timers.size > 0) {
      const [key, at] = [...timers].sort((x, y) => x[1] - y[1])[0]!;
      timers.delete(key);
      now = Math.max(now, at);
      if (key.startsWith("timeout:")) seen.timeouts++;
      both({ type: "timer", key }, `timer ${key}`);
      continue;
    }
    break;
  }
  if (s.maps.some((m) => m.concurrency === 1)) seen.concurrencyOne++;
  if (s.maps.length > 1) seen.twoMaps++;
  for (const t of b.record.tasks) if (t.instances && t.status === "succeeded" && t.instances.failed > 0) seen.tolerated++;

  for (const { name, snapshot, text } of snapshots) expect(JSON.stringify(snapshot), `${name} snapshot taken earlier`).toBe(text);

  // Readers fold the stored history without a model: every cut folds to the same record both ways.
  for (const cut of stored) {
    const events = log.slice(0, cut);
    const c = foldEvents(createRunState(RUN, undefined, { compact: true }), events);
    const p = foldEvents(createRunState(RUN, undefined), events);
    expectSame(c, p, `reader's fold at cut ${cut} of ${log.length}`);
  }
}

describe("runtime - compact map fold (property)", () => {
  it("runtime - random map runs decide and read the same with the compact fold as with plain records, at every step and every cut", () => {
    fc.assert(
      fc.property(spec, (s) => simulate(s)),
      { numRuns: 80, seed: 20261201 },
    );
    // The generated runs reached every case the property is about.
    for (const [name, n] of Object.entries(seen)) expect(n, name).toBeGreaterThan(0);
  });
});
