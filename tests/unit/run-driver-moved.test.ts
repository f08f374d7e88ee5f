// What the fleet's run driver hands to the parts it is built of, each tested where it now
// lives: admitting a run into its workflow's concurrency (run-admission.ts), saving a
// driven run's summary as it changes (summary-saver.ts), the look for a pending run's
// workers (heartbeat.ts), and the run store's accepted, reclaimed and given-up entries.
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import type { Workflow } from "../../src/dsl/workflow.js";
import { workflow } from "../../src/dsl/workflow.js";
import type { BackgroundJob } from "../../src/fleet/background-job.js";
import { heartbeatKey, whenWorkersServe, workerHeartbeatSchema, type WorkerHeartbeat } from "../../src/fleet/heartbeat.js";
import type { KvRunGate, RunAdmission } from "../../src/fleet/kv-run-gate.js";
import { RunPlaces } from "../../src/fleet/run-admission.js";
import { acceptedUnstarted, createRunStore, runKey, runStoreKv, storedRunSchema, type StoredRun } from "../../src/fleet/run-store.js";
import type { StartOfRun } from "../../src/fleet/run-takeover.js";
import { saveOnChange, SUMMARY_COALESCE_MS } from "../../src/fleet/summary-saver.js";
import { compile } from "../../src/compiler/compile.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { runOptionsSchema } from "../../src/support/run-options.js";
import { createMemoryStores } from "../../src/transport/memory/kv-store.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { createFakeClock } from "../support/fake-clock.js";

const T0 = 1_700_000_000_000;
const log = createSilentLogger();

function signup(onLimit?: "queue" | "drop"): Workflow<unknown> {
  const wf = workflow("signup", {
    version: "1",
    input: z.object({ user: z.string() }),
    priority: 2,
    concurrency: { limit: 1, key: (input) => input.user, ...(onLimit !== undefined ? { onLimit } : {}) },
  });
  wf.state("s").task("a", { executor: "ns/a" });
  return wf;
}

const startOf = (input: unknown, options: Record<string, unknown> = {}): StartOfRun => ({ input, options: runOptionsSchema.parse(options) });

/** A gate that records what it was asked and answers `free` for a new start or a requeue. */
function fakeGate(free: boolean) {
  const calls: string[] = [];
  let go: (() => void) | undefined;
  const gate: KvRunGate = {
    start: (runId) => (calls.push(`start ${runId}`), Promise.resolve(free)),
    wait: (runId, _a, at, g) => {
      calls.push(`wait ${runId} ${at}`);
      go = g;
    },
    requeue: (runId, _a, at) => (calls.push(`requeue ${runId} ${at}`), Promise.resolve(free)),
    hold: (runId, ref) => (calls.push(`hold ${runId} ${ref.key}`), Promise.resolve()),
    stopWaiting: (runId) => void calls.push(`stopWaiting ${runId}`),
    release: (runId, ref) => void calls.push(`release ${runId}${ref !== undefined ? ` ${ref.key}` : ""}`),
    forget: (runId) => void calls.push(`forget ${runId}`),
    describe: () => Promise.resolve(undefined),
    close: () => undefined,
  };
  return { gate, calls, place: () => go?.() };
}

const stored = (over: Partial<StoredRun> = {}): StoredRun => ({
  runId: "r1",
  workflow: "signup",
  version: "1",
  planHash: "h1",
  status: "pending",
  tasks: { total: 0, succeeded: 0, failed: 0, running: 0 },
  coordinator: "c1",
  leaseUntil: T0 + 1_000,
  updatedAt: T0,
  ...over,
});

describe("run admission (run-admission.ts)", () => {
  it("run admission - a run's admission is its workflow's limit at the key of its input, at the run's priority, else the workflow's", () => {
    const places = new RunPlaces(fakeGate(true).gate, log);
    expect(places.admissionOf(signup(), startOf({ user: "ann" }))).toEqual({ ref: { workflow: "signup", key: "ann", limit: 1 }, onLimit: "queue", priority: 2 });
    expect(places.admissionOf(signup("drop"), startOf({ user: "bo" }, { priority: 5 }))).toMatchObject({ ref: { key: "bo" }, onLimit: "drop", priority: 5 });
    const free = workflow("free", { version: "1" });
    expect(places.admissionOf(free, startOf({}))).toBeUndefined();
  });

  it("run admission - without a gate every run is admitted at once and nothing is kept, held or released", async () => {
    const places = new RunPlaces(undefined, log);
    expect(places.admissionOf(signup(), startOf({ user: "ann" }))).toBeUndefined();
    expect(await places.admit("r1", signup(), startOf({ user: "ann" }), T0)).toEqual({ admission: undefined, queued: false, stored: undefined });
    expect(await places.requeue("r1", signup(), startOf({ user: "ann" }), stored({ runLimit: { key: "ann", limit: 1, queuedAt: T0 } }))).toBeUndefined();
    await places.keep(stored({ runLimit: { key: "ann", limit: 1, queuedAt: T0 } }));
    places.giveBack(stored({ runLimit: { key: "ann", limit: 1, queuedAt: T0 } }));
    places.release("r1");
    places.forget("r1");
  });

  it("run admission - a new start takes a place or is queued, and its stored entry keeps its key, limit and when it asked", async () => {
    const full = fakeGate(false);
    const queued = await new RunPlaces(full.gate, log).admit("r1", signup(), startOf({ user: "ann" }), T0 + 5);
    expect(queued).toMatchObject({ queued: true, stored: { key: "ann", limit: 1, queuedAt: T0 + 5 } });
    const open = fakeGate(true);
    expect(await new RunPlaces(open.gate, log).admit("r2", signup(), startOf({ user: "ann" }), T0)).toMatchObject({ queued: false });
    expect([...full.calls, ...open.calls]).toEqual(["start r1", "start r2"]);
  });

  it("run admission - a pending run taken over waits again in its old place unless the gate gives it one; one with no stored limit starts", async () => {
    const run = stored({ runLimit: { key: "ann", limit: 1, queuedAt: T0 - 50 } });
    const full = fakeGate(false);
    expect(await new RunPlaces(full.gate, log).requeue("r1", signup(), startOf({ user: "ann" }), run)).toMatchObject({ ref: { key: "ann" } });
    expect(full.calls).toEqual([`requeue r1 ${T0 - 50}`]);
    expect(await new RunPlaces(fakeGate(true).gate, log).requeue("r1", signup(), startOf({ user: "ann" }), run)).toBeUndefined();
    expect(await new RunPlaces(full.gate, log).requeue("r1", signup(), startOf({ user: "ann" }), stored())).toBeUndefined();
  });

  it("run admission - a queued run is parked before the gate is asked; given a place it goes, and one no longer wanted gives its place back", () => {
    const f = fakeGate(false);
    const places = new RunPlaces(f.gate, log);
    const admission = places.admissionOf(signup(), startOf({ user: "ann" })) as RunAdmission;
    const parked: BackgroundJob[] = [];
    let wanted = true;
    const went: BackgroundJob[] = [];
    places.queue("r1", admission, T0, (job) => {
      expect(f.calls).toEqual([]); // parked first
      parked.push(job);
    }, (job) => (went.push(job), wanted));
    expect(f.calls).toEqual([`wait r1 ${T0}`]);
    f.place();
    expect(went).toEqual(parked);
    expect(f.calls).toEqual([`wait r1 ${T0}`]);
    wanted = false;
    f.place();
    expect(f.calls).toEqual([`wait r1 ${T0}`, "release r1 ann"]);
    parked[0]!.stop();
    expect(f.calls.at(-1)).toBe("stopWaiting r1");
  });

  it("run admission - a stored run keeps and gives back the place of its stored limit; one without a limit touches nothing", async () => {
    const f = fakeGate(true);
    const places = new RunPlaces(f.gate, log);
    const limited = stored({ runLimit: { key: "ann", limit: 1, queuedAt: T0 } });
    await places.keep(limited);
    places.giveBack(limited);
    await places.keep(stored());
    places.giveBack(stored());
    places.release("r2");
    places.forget("r3");
    expect(f.calls).toEqual(["hold r1 ann", "release r1 ann", "release r2", "forget r3"]);
  });
});

describe("summary saver (summary-saver.ts)", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("summary saver - run and state events save at once, task events are coalesced, and nothing is saved once stopped", () => {
    vi.useFakeTimers();
    const listeners = new Set<(e: RunEvent) => void>();
    const handle = {
      on: (l: (e: RunEvent) => void) => (listeners.add(l), () => void listeners.delete(l)),
    };
    const emit = (type: string): void => {
      for (const l of listeners) l({ type } as RunEvent);
    };
    let saves = 0;
    const stop = saveOnChange(handle, () => void saves++);
    emit("run.started");
    expect(saves).toBe(1);
    emit("task.dispatched");
    emit("task.succeeded");
    expect(saves).toBe(1);
    vi.advanceTimersByTime(SUMMARY_COALESCE_MS);
    expect(saves).toBe(2);
    emit("task.dispatched");
    emit("state.entered");
    expect(saves).toBe(3); // the state event saved at once, the pending task save with it
    vi.advanceTimersByTime(SUMMARY_COALESCE_MS * 2);
    expect(saves).toBe(3);
    emit("task.dispatched");
    stop();
    vi.advanceTimersByTime(SUMMARY_COALESCE_MS * 2);
    emit("run.succeeded");
    expect(saves).toBe(3);
    expect(listeners.size).toBe(0);
  });
});

describe("worker wait (heartbeat.ts)", () => {
  it("worker wait - a pending run goes once every executor of its plan has a live worker, and not when it is no longer wanted", async () => {
    const clock = createFakeClock(T0);
    const kv = createMemoryStores().store("workers", workerHeartbeatSchema);
    const wf = workflow("w", { version: "1" });
    wf.state("s").task("a", { executor: "ns/a" });
    const plan = compile(wf);
    const beat = (at: number): WorkerHeartbeat => ({ workerId: "w1", host: "h", pid: 1, namespaces: ["ns"], executors: ["ns/a"], concurrency: 1, inFlight: 0, completed: 0, failed: 0, malformed: 0, startedAt: T0, at });
    let wanted = true;
    const went: number[] = [];
    const job = whenWorkersServe({ kv, plan, clock, pollMs: 100, logger: log }, () => wanted, () => (went.push(clock.now()), Promise.resolve()));
    await clock.advance(250);
    expect(went).toEqual([]);
    await kv.put(heartbeatKey("w1"), beat(clock.now()));
    wanted = false;
    await clock.advance(200);
    expect(went).toEqual([]);
    wanted = true;
    await clock.advance(100);
    expect(went).toHaveLength(1);
    await clock.advance(500);
    expect(went).toHaveLength(1); // it stopped once it went
    job.stop();
  });
});

describe("run store (run-store.ts)", () => {
  it("run store - an accepted run not yet started is pending with its input kept, what it waits for, its start key and limit", () => {
    const body = acceptedUnstarted(
      { runId: "r1", workflow: "signup", version: "1", planHash: "h1" },
      { ...startOf({ user: "ann" }), parent: { runId: "p1", state: "s", task: "t", instance: 0, attempt: 1 } as never },
      { waitingFor: ["ns/a"], startKey: "key.x", runLimit: { key: "ann", limit: 1, queuedAt: T0 } },
    );
    expect(body).toMatchObject({ runId: "r1", status: "pending", parent: "p1", waitingFor: ["ns/a"], startKey: "key.x", runLimit: { key: "ann", limit: 1, queuedAt: T0 } });
    expect(body.pendingStart).toMatchObject({ input: { user: "ann" }, options: { schedule: "phases" }, parent: { runId: "p1" } });
    const bare = acceptedUnstarted({ runId: "r2", workflow: "w", version: "1", planHash: "h" }, startOf({}), { waitingFor: [] });
    for (const none of ["parent", "waitingFor", "startKey", "runLimit"]) expect(bare).not.toHaveProperty(none);
    expect(storedRunSchema.safeParse({ ...bare, coordinator: "c1", leaseUntil: T0, updatedAt: T0 }).success).toBe(true);
  });

  it("run store - a retry reclaims a failed run once (its spent cancel dropped, marked active again); a second claim from the same entry loses", async () => {
    const kv = runStoreKv(createMemoryStores());
    await kv.runs.create(runKey("r1"), stored({ status: "failed", coordinator: "c0", cancelRequested: "stop" }));
    const store = createRunStore(kv, { owner: "c1", leaseMs: 1_000, now: () => T0, logger: log, onLost: () => undefined });
    const entry = (await store.get("r1"))!;
    expect(await store.reclaim(entry)).toBe(true);
    expect((await store.get("r1"))!.value).toMatchObject({ coordinator: "c1", leaseUntil: T0 + 1_000 });
    expect((await store.get("r1"))!.value).not.toHaveProperty("cancelRequested");
    expect(await kv.active.get("active.r1")).toMatchObject({ value: { workflow: "signup", since: T0 } });
    expect(store.held()).toEqual(["r1"]);
    expect(await store.reclaim(entry)).toBe(false);
  });

  it("run store - closing gives up the lease of an unfinished run it holds, never one another coordinator holds or one that ended", async () => {
    const kv = runStoreKv(createMemoryStores());
    await kv.runs.create(runKey("mine"), stored({ runId: "mine", coordinator: "c1" }));
    await kv.runs.create(runKey("theirs"), stored({ runId: "theirs", coordinator: "c2" }));
    await kv.runs.create(runKey("done"), stored({ runId: "done", coordinator: "c1", status: "succeeded" }));
    const store = createRunStore(kv, { owner: "c1", leaseMs: 1_000, now: () => T0 + 7, logger: log, onLost: () => undefined });
    for (const id of ["mine", "theirs", "done", "unknown"]) await store.giveUp(id);
    expect((await kv.runs.get(runKey("mine")))!.value).toMatchObject({ leaseUntil: 0, updatedAt: T0 + 7 });
    expect((await kv.runs.get(runKey("theirs")))!.value.leaseUntil).toBe(T0 + 1_000);
    expect((await kv.runs.get(runKey("done")))!.value.leaseUntil).toBe(T0 + 1_000);
  });
});
