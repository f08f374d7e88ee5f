// The pieces the fleet's run driver is built of, each where it lives: ending a run its
// coordinator cannot drive (run-failure.ts, a `fail` through decide), the summary of a run
// that ended before it started (run-store.ts), which runs are orphans to a coordinator
// (run-takeover.ts), and its background jobs (background-job.ts).
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow } from "../../src/dsl/workflow.js";
import { UsageError } from "../../src/errors/base.js";
import { every } from "../../src/fleet/background-job.js";
import { recordRunFailure } from "../../src/fleet/run-failure.js";
import { endedUnstarted, storedRunSchema, type RunStore, type RunSummaryBody, type StoredRun } from "../../src/fleet/run-store.js";
import { isOrphan, type TakeoverDeps, type TakeoverHost } from "../../src/fleet/run-takeover.js";
import { decide } from "../../src/runtime/core/decide.js";
import { runModelOf } from "../../src/runtime/core/run-model.js";
import { runSummarySchema } from "../../src/runtime/core/run-record-schema.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import { createRunState } from "../../src/runtime/core/run-state.js";
import { createSilentLogger } from "../../src/support/logger.js";
import type { TypedEntry } from "../../src/transport/fleet-port.js";
import { WIRE_VERSION, type Decision, type StoredMessage } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";
import { createFakeClock } from "../support/fake-clock.js";

const T0 = 1_700_000_000_000;
const runId = "r1";

const pendingRun = (over: Partial<StoredRun> = {}): StoredRun => ({
  runId,
  workflow: "wf",
  version: "1",
  planHash: "h1",
  status: "pending",
  tasks: { total: 0, succeeded: 0, failed: 0, running: 0 },
  pendingStart: { input: { n: 1 }, options: {} },
  waitingFor: ["ns/a"],
  coordinator: "c1",
  leaseUntil: T0 + 1_000,
  updatedAt: T0,
  ...over,
});

function fakes(history: StoredMessage[], stored?: StoredRun) {
  const saved: RunSummaryBody[] = [];
  const appended: { decision: Decision; after: number }[] = [];
  const transport = {
    readHistory: (): Promise<{ messages: StoredMessage[]; lastDecisionSeq: number }> => Promise.resolve({ messages: history, lastDecisionSeq: history.length }),
    appendDecision: (decision: Decision, after: number): Promise<number> => {
      appended.push({ decision, after });
      return Promise.resolve(after + 1);
    },
  } as unknown as Transport;
  const store = {
    get: (): Promise<TypedEntry<StoredRun> | undefined> => Promise.resolve(stored === undefined ? undefined : ({ key: `run.${runId}`, value: stored, revision: 1 })),
    save: (run: RunSummaryBody): Promise<void> => {
      saved.push(run);
      return Promise.resolve();
    },
  } as unknown as RunStore;
  return { transport, store, saved, appended };
}

describe("run failure", () => {
  it("run failure - a run that cannot be driven ends with run.failed decided on its folded history, fenced after its last decision", async () => {
    const wf = workflow("lost", { version: "1" });
    wf.state("s").task("a", { executor: "t/a" });
    const first = decide(createRunState(runId, runModelOf(compile(wf), wf)), { type: "start", input: {}, options: { schedule: "phases", onFailure: "fail-fast" }, owner: "c1", epoch: 1 }, T0, { jitter: () => 0, token: () => "0123456789abcdef0123" });
    const history: StoredMessage[] = [{ seq: 1, message: { v: WIRE_VERSION, kind: "decision", runId, by: "c1", epoch: 1, through: 0, at: T0, events: first.events } }];
    const f = fakes(history);
    await recordRunFailure({ id: "c2", transport: f.transport, store: f.store, clock: createFakeClock(T0 + 5), logger: createSilentLogger() }, runId, new UsageError("it broke"));
    expect(f.appended).toHaveLength(1);
    expect(f.appended[0]!.after).toBe(1);
    expect(f.appended[0]!.decision).toMatchObject({ by: "c2", epoch: 0, events: [{ type: "run.failed", error: { code: "USAGE" } }] });
    history.push({ seq: 2, message: f.appended[0]!.decision });
    expect(f.saved).toEqual([expect.objectContaining({ status: "failed", finishedAt: T0 + 5 })]);
    expect(recordOfHistory(history)).toMatchObject({ status: "failed", finishedAt: T0 + 5 });
  });

  it("run failure - a run with no history is ended in its summary alone, its pending start and lease dropped", async () => {
    const f = fakes([], pendingRun());
    await recordRunFailure({ id: "c2", transport: f.transport, store: f.store, clock: createFakeClock(T0 + 5), logger: createSilentLogger() }, runId, new UsageError("never started"));
    expect(f.appended).toEqual([]);
    expect(f.saved).toHaveLength(1);
    expect(f.saved[0]).toMatchObject({ runId, status: "failed", finishedAt: T0 + 5, error: { code: "USAGE", message: "never started" } });
    for (const gone of ["pendingStart", "waitingFor", "coordinator", "leaseUntil", "updatedAt"]) expect(f.saved[0]).not.toHaveProperty(gone);
  });

  it("run store - a run cancelled before it started keeps its summary, without its pending start or lease", () => {
    expect(endedUnstarted(pendingRun({ startKey: "key.x" }), { status: "cancelled", finishedAt: T0 + 9 })).toEqual({
      runId,
      workflow: "wf",
      version: "1",
      planHash: "h1",
      status: "cancelled",
      tasks: { total: 0, succeeded: 0, failed: 0, running: 0 },
      startKey: "key.x",
      finishedAt: T0 + 9,
    });
  });
});

describe("stored run", () => {
  it("run store - a stored run is the run summary (declared once) less the run list's waiting, plus the fleet's lease and pending start", () => {
    const summaryKeys = Object.keys(runSummarySchema.shape).filter((k) => k !== "waiting");
    expect(Object.keys(storedRunSchema.shape).sort()).toEqual([...summaryKeys, "updatedAt", "waitingFor", "pendingStart", "cancelRequested", "runLimit", "startKey", "coordinator", "leaseUntil"].sort());
    expect(storedRunSchema.parse(pendingRun())).toEqual(pendingRun());
    expect(storedRunSchema.safeParse({ ...pendingRun(), leaseUntil: undefined }).success).toBe(false);
  });
});

describe("run takeover", () => {
  it("run takeover - an orphan is an unfinished run of a served plan, not known here, whose lease ran out or was ours before a restart", () => {
    const clock = createFakeClock(T0 + 2_000);
    const deps = { id: "c2", clock, workflows: { byPlan: (h: string) => (h === "h1" ? {} : undefined) } } as unknown as TakeoverDeps;
    const known = new Set<string>();
    const host = { knows: (id: string) => known.has(id) } as unknown as TakeoverHost;
    const entry = (run: StoredRun): TypedEntry<StoredRun> => ({ key: `run.${run.runId}`, value: run, revision: 1 });
    expect(isOrphan(entry(pendingRun()), deps, host)).toBe(true);
    expect(isOrphan(entry(pendingRun({ leaseUntil: T0 + 5_000 })), deps, host)).toBe(false);
    expect(isOrphan(entry(pendingRun({ leaseUntil: T0 + 5_000, coordinator: "c2" })), deps, host)).toBe(true);
    expect(isOrphan(entry(pendingRun({ status: "succeeded" })), deps, host)).toBe(false);
    expect(isOrphan(entry(pendingRun({ planHash: "h2" })), deps, host)).toBe(false);
    known.add(runId);
    expect(isOrphan(entry(pendingRun()), deps, host)).toBe(false);
  });
});

describe("background job", () => {
  it("background job - runs again after the last run settled, a failure included, until stopped", async () => {
    const clock = createFakeClock(0);
    const runs: number[] = [];
    const job = every(clock, 100, () => {
      runs.push(clock.now());
      return runs.length === 2 ? Promise.reject(new Error("once")) : Promise.resolve();
    }, createSilentLogger());
    await clock.advance(350);
    job.stop();
    await clock.advance(500);
    expect(runs).toEqual([100, 200, 300]);
  });
});
