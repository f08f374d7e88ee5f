// Fencing (protocol v2): a run's decisions are stored fenced on its last decision's
// sequence, each holder claims the run at a new epoch, and reports count only with the
// token of their attempt. These tests drive real coordinator and worker processes
// against a real nats-server and check the stored histories:
// - a coordinator paused past its lease changes nothing in the runs it lost;
// - two coordinator processes given the same --id are still two writers, never both driving a run;
// - forged reports (wrong token; another run's subject) are refused and counted;
// - two coordinators split the reports: each decodes only the reports of the runs it holds.
import { describe, expect, it } from "vitest";
import { createNatsTransport } from "../../src/transport/nats/transport.js";
import type { Decision, Report, RunEvent, StoredMessage } from "../../src/transport/messages.js";
import { createRunState, foldEvents } from "../../src/runtime/core/run-state.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import type { PhaseflowProcess } from "../support/processes.js";
import { expectOneSucceededPerTask, tookOver, twoCoordinators, useFleet, waitForExecution, waitForLive } from "./support.js";

const FENCED = "another coordinator holds this run now (our decision was fenced); letting it go";
const RELEASED = "another coordinator took this run over; stop driving it";

/** The id (with its per-process nonce) a coordinator process logged when it started. */
async function coordinatorIdOf(p: PhaseflowProcess): Promise<string> {
  const line = await p.waitForLog((l) => l.msg === "coordinator started");
  return line.coordinatorId as string;
}

function decisionsOf(messages: readonly StoredMessage[]): (Decision & { seq: number })[] {
  return messages.flatMap((m) => (m.message.kind === "decision" ? [{ ...m.message, seq: m.seq }] : []));
}

const claimOf = (d: Decision): { owner: string; epoch: number } | undefined => {
  const c = d.events.find((e) => e.type === "run.claimed");
  return c?.type === "run.claimed" ? { owner: c.owner, epoch: c.epoch } : undefined;
};

/**
 * The writers of a run's decision batches never interleave: each epoch has one writer, the
 * writer changes only at a batch holding `run.claimed` (by the new writer, at a higher epoch),
 * and epochs never go back.
 */
function expectOneWriterPerEpoch(runId: string, decisions: readonly Decision[]): void {
  const byEpoch = new Map<number, Set<string>>();
  for (const d of decisions) byEpoch.set(d.epoch, (byEpoch.get(d.epoch) ?? new Set()).add(d.by));
  for (const [epoch, writers] of byEpoch) expect([...writers], `writers of run ${runId} at epoch ${epoch}`).toHaveLength(1);
  expect(claimOf(decisions[0]!), `run ${runId}: its first batch claims it`).toEqual({ owner: decisions[0]!.by, epoch: decisions[0]!.epoch });
  for (let i = 1; i < decisions.length; i++) {
    const prev = decisions[i - 1]!;
    const d = decisions[i]!;
    expect(d.epoch, `run ${runId}: epochs never go back`).toBeGreaterThanOrEqual(prev.epoch);
    if (d.by !== prev.by || d.epoch !== prev.epoch) {
      expect(claimOf(d), `run ${runId}: batch ${i} changes writer ${prev.by}@${prev.epoch} -> ${d.by}@${d.epoch} without claiming the run`).toEqual({ owner: d.by, epoch: d.epoch });
      expect(d.epoch).toBeGreaterThan(prev.epoch);
    }
  }
}

const BAD_EVENTS = new Set(["task.failed", "task.cancelled", "run.failed", "run.cancelled"]);
const badEvents = (events: readonly RunEvent[]): RunEvent[] => events.filter((e) => BAD_EVENTS.has(e.type));

describe("faults - fencing: a paused coordinator", () => {
  const fleet = useFleet("ffpause", {
    workers: [
      { id: "w1", flags: ["--concurrency", "8"] },
      { id: "w2", flags: ["--concurrency", "8"] },
    ],
  });

  it("faults - a coordinator paused past its lease changes nothing in the runs it lost", async () => {
    const a = await fleet.coordinator(["--lease-ms", "1500", "--id", "c-a"]);
    const aId = await coordinatorIdOf(a);
    // Long enough that A is paused (and B has taken the runs over) while they still run.
    const runs = await Promise.all(Array.from({ length: 3 }, () => fleet.client.start("long-wide", { ms: 5000 })));
    // Every long task of every run is executing: A has decisions in flight to make when it wakes.
    for (const { runId } of runs) {
      for (let i = 0; i < 4; i++) await waitForExecution(fleet.log, runId, (e) => e.taskId === `work/long-${i}`);
    }
    a.kill("SIGSTOP");
    let b: PhaseflowProcess;
    try {
      b = await fleet.coordinator(["--lease-ms", "1500", "--id", "c-b"]);
      for (const { runId } of runs) await tookOver(b, runId);
    } finally {
      a.kill("SIGCONT");
    }
    const bId = await coordinatorIdOf(b);
    for (const { runId } of runs) {
      const { record, events } = await fleet.finish(runId);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expectOneSucceededPerTask(events, record);
      expect(badEvents(events)).toEqual([]);
      const decisions = decisionsOf((await fleet.client.transport.readHistory(runId)).messages);
      expectOneWriterPerEpoch(runId, decisions);
      const claimAt = decisions.findIndex((d) => claimOf(d)?.owner === bId);
      expect(claimAt, `B's claim of run ${runId}`).toBeGreaterThan(0);
      expect(decisions.slice(0, claimAt).every((d) => d.by === aId)).toBe(true);
      expect(decisions.slice(claimAt).map((d) => d.by)).toEqual(decisions.slice(claimAt).map(() => bId));
      // A woke up and let the run go: its next decision was fenced, or its renewal found the new holder.
      await a.waitForLog((l) => (l.msg === FENCED || l.msg === RELEASED) && l.runId === runId, 30_000);
    }
    expect(a.child.exitCode).toBeNull(); // A is alive and well, just no longer driving these runs
    expect(a.lines.filter((l) => l.msg === "run finished" && runs.some((r) => r.runId === l.runId))).toEqual([]);
  }, 180_000);
});

describe("faults - fencing: two coordinators given the same --id", () => {
  const fleet = useFleet("ffsame", twoCoordinators("same", "same"));

  it("faults - two coordinators started with --id same never both drive a run", async () => {
    const [one, two] = fleet.coordinators as [PhaseflowProcess, PhaseflowProcess];
    const ids = [await coordinatorIdOf(one), await coordinatorIdOf(two)];
    for (const id of ids) expect(id).toMatch(/^same~[0-9a-f]+$/);
    expect(ids[0]).not.toBe(ids[1]);
    const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => fleet.client.start("fifty", { ms: 2 + (i % 4) })));
    for (const { runId } of runs) {
      const { record, events } = await fleet.finish(runId);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expectOneSucceededPerTask(events, record);
      const decisions = decisionsOf((await fleet.client.transport.readHistory(runId)).messages);
      expectOneWriterPerEpoch(runId, decisions);
      for (const d of decisions) expect(ids).toContain(d.by);
    }
    // Each run finished at exactly one of them.
    const finishedBy = (p: PhaseflowProcess, runId: string): boolean => p.lines.some((l) => l.msg === "run finished" && l.runId === runId);
    await expect.poll(() => runs.every(({ runId }) => finishedBy(one, runId) || finishedBy(two, runId)), { timeout: 30_000 }).toBe(true);
    for (const { runId } of runs) expect(finishedBy(one, runId) && finishedBy(two, runId), runId).toBe(false);
  }, 180_000);
});

describe("faults - fencing: forged reports", () => {
  const fleet = useFleet("ffforge", { coordinators: [["--lease-ms", "2000", "--id", "c-forge"]], workers: [{ id: "w1", flags: ["--concurrency", "4"] }] });

  it("faults - a report with a wrong token, and one on another run's subject, are refused and counted", async () => {
    const x = "forge-x";
    const y = "forge-y";
    // Subscribe before the runs start: live signals are not stored.
    const startedX = waitForLive(fleet.client, x, (s) => s.type === "attempt.started", 60_000);
    const startedY = waitForLive(fleet.client, y, (s) => s.type === "attempt.started", 60_000);
    // The forged reports go out once both attempts have run 200 ms, well before they end.
    await fleet.client.start("single", { ms: 2000 }, { runId: x });
    await fleet.client.start("single", { ms: 2000 }, { runId: y });
    const live = await startedX;
    await startedY;
    const { js, names } = fleet.client.transport;
    const encode = (r: Report): Uint8Array => new TextEncoder().encode(JSON.stringify(r));
    const forged: Report = {
      v: 2,
      kind: "report",
      type: "attempt.succeeded",
      runId: x,
      at: Date.now(),
      state: live.state,
      visit: live.visit,
      task: live.task,
      attempt: live.attempt,
      dispatchId: live.dispatchId,
      token: "forged-token-0123456789abcdef",
      workerId: "forger",
      output: { forged: true },
      durationMs: 1,
    };
    // (a) the current attempt of X, on X's own report subject, with a wrong token.
    await js.publish(names.subjects.reports(x), encode(forged));
    // (b) a well-formed report naming run X, stored on run Y's report subject.
    await js.publish(names.subjects.reports(y), encode({ ...forged, token: "another-forged-token-0123456789" }));

    const { record } = await fleet.finish(x);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.tasks).toHaveLength(1);
    expect(record.tasks[0]!.output).toEqual({ long: 2000, ms: 2000 });
    expect(record.tasks[0]!.workerId).not.toBe("forger");
    const xMessages = (await fleet.client.transport.readHistory(x)).messages;
    // The forged report is stored (anyone may publish), but the fold refuses it.
    expect(xMessages.some((m) => m.message.kind === "report" && m.message.workerId === "forger")).toBe(true);
    const folded = foldEvents(createRunState(x), historyEvents(xMessages));
    expect(folded.refused).toBeGreaterThanOrEqual(1);
    expect(folded.record.status).toBe("succeeded");

    const yDone = await fleet.finish(y);
    expect(yDone.record.status, JSON.stringify(yDone.record.error)).toBe("succeeded");
    expect(yDone.record.tasks[0]!.output).toEqual({ long: 2000, ms: 2000 });
    // A reader of Y's history drops and counts the report naming X.
    const reader = await createNatsTransport({ servers: fleet.url, prefix: fleet.prefix });
    try {
      expect(reader.stats().refused).toBe(0);
      const yMessages = (await reader.readHistory(y)).messages;
      expect(reader.stats().refused).toBe(1);
      expect(yMessages.every((m) => m.message.runId === y)).toBe(true);
      expect(foldEvents(createRunState(y), historyEvents(yMessages)).refused).toBe(0);
    } finally {
      await reader.close();
    }
  }, 120_000);
});

describe("faults - fencing: two coordinators split the reports", () => {
  const fleet = useFleet("ffsplit", twoCoordinators("c-a", "c-b"));

  it("faults - each coordinator decodes only the reports of the runs it holds", async () => {
    const [a, b] = fleet.coordinators as [PhaseflowProcess, PhaseflowProcess];
    const N = 12;
    const K = 50; // tasks of "fifty", one attempt each
    const runs = await Promise.all(Array.from({ length: N }, (_, i) => fleet.client.start("fifty", { ms: 2 + (i % 3) })));
    for (const { runId } of runs) {
      const { record, events } = await fleet.finish(runId);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expect(record.tasks).toHaveLength(K);
      expectOneSucceededPerTask(events, record);
      // One report per task: no retries, no duplicates, so N*K reports in all.
      expect(events.filter((e) => e.type === "attempt.succeeded" || e.type === "attempt.failed")).toHaveLength(K);
    }
    const finishedBy = (p: PhaseflowProcess): number => runs.filter(({ runId }) => p.lines.some((l) => l.msg === "run finished" && l.runId === runId)).length;
    await expect.poll(() => finishedBy(a) + finishedBy(b), { timeout: 30_000 }).toBe(N);
    const statsOf = async (p: PhaseflowProcess): Promise<{ ok: boolean; id: string; reportsDelivered: number; runs: number }> => {
      const id = await coordinatorIdOf(p);
      const reply = await fleet.client.transport.connection.request(fleet.client.transport.names.subjects.api(`coordinator.${id}.stats`), new TextEncoder().encode("{}"), { timeout: 10_000 });
      return JSON.parse(new TextDecoder().decode(reply.data)) as { ok: boolean; id: string; reportsDelivered: number; runs: number };
    };
    const sa = await statsOf(a);
    const sb = await statsOf(b);
    expect(sa.ok && sb.ok).toBe(true);
    expect(sa.id).toBe(await coordinatorIdOf(a));
    // Each report decoded once, by the holder of its run: N*K in all, not 2*N*K.
    expect(sa.reportsDelivered + sb.reportsDelivered).toBe(N * K);
    expect(sa.reportsDelivered).toBe(finishedBy(a) * K);
    expect(sb.reportsDelivered).toBe(finishedBy(b) * K);
    // The queue group shares the starts: both drive some (all 12 going to one has odds 1 in 2048).
    expect(finishedBy(a)).toBeGreaterThan(0);
    expect(finishedBy(b)).toBeGreaterThan(0);
  }, 180_000);
});
