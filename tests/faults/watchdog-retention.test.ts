// The watchdog and retention, with real processes against a real nats-server:
// - an attempt whose task message vanished from <P>_TASKS before any worker took it is
//   dispatched again once nothing was heard of it for --watchdog-ms (ATTEMPT_LOST);
// - with --retention, a finished run's history and summary go once expired, while a
//   running run is untouched; `phaseflow prune --older-than` removes finished runs at once.
import { describe, expect, it } from "vitest";
import { heartbeatKey, type WorkerHeartbeat } from "../../src/fleet/heartbeat.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { spawnPhaseflow } from "../support/processes.js";
import { COORDINATOR, WORKFLOWS, expectOneSucceededPerTask, readExecutions, useFleet, waitForEvent } from "./support.js";

describe("faults - watchdog", () => {
  const fleet = useFleet("fwatch");

  it("faults - --watchdog-ms is validated like --lease-ms", async () => {
    const bad = ["abc", "100", "1.5"];
    const ps = bad.map((value) => spawnPhaseflow(["coordinator", "--nats", fleet.url, "--prefix", fleet.prefix, "--watchdog-ms", value, WORKFLOWS]));
    for (const [i, p] of ps.entries()) {
      const { code } = await p.exited;
      expect(code, p.output()).toBe(2);
      expect(p.output()).toContain(`--watchdog-ms "${bad[i]!}" must be a whole number of milliseconds >= 500`);
    }
  }, 60_000);

  it("faults - a task message deleted before any worker took it: the watchdog dispatches the attempt again", async () => {
    const { transport } = fleet.client;
    // A worker serving faults/long that takes nothing: its heartbeat only, so the run is
    // dispatched at once instead of waiting for workers, and its task message stays queued.
    const ghost: WorkerHeartbeat = {
      workerId: "ghost",
      host: "nowhere",
      pid: 1,
      namespaces: ["faults"],
      executors: ["faults/long"],
      concurrency: 1,
      inFlight: 0,
      completed: 0,
      failed: 0,
      malformed: 0,
      startedAt: Date.now(),
      intervalMs: 60_000,
      at: Date.now(),
    };
    await transport.buckets.workers.put(heartbeatKey(ghost.workerId), new TextEncoder().encode(JSON.stringify(ghost)));
    // Above the workers' live heartbeat interval (5 s), so a running attempt is never taken for lost.
    await fleet.coordinator(["--lease-ms", "2000", "--watchdog-ms", "6000"]);
    const { runId } = await fleet.client.start("single", { ms: 500 });
    const dispatched = (await waitForEvent(fleet.client, runId, (e) => e.type === "task.dispatched")) as Extract<RunEvent, { type: "task.dispatched" }>;
    expect(dispatched.attempt).toBe(1);
    const tasks = transport.names.streams.tasks;
    await expect.poll(async () => (await transport.jsm.streams.info(tasks)).state.messages, { timeout: 20_000 }).toBe(1);
    // Behind everyone's back: the task message is gone before any worker saw it.
    await transport.jsm.streams.purge(tasks);
    expect((await transport.jsm.streams.info(tasks)).state.messages).toBe(0);
    await transport.buckets.workers.delete(heartbeatKey(ghost.workerId));
    await fleet.worker("w1");

    const retrying = await waitForEvent(fleet.client, runId, (e) => e.type === "task.retrying");
    expect(retrying).toMatchObject({ type: "task.retrying", attempt: 1, nextAttempt: 2, error: { code: "ATTEMPT_LOST" } });
    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    expect(record.tasks[0]!.output).toEqual({ long: 500, ms: 500 });
    expect(events.filter((e) => e.type === "task.dispatched").map((e) => (e as { attempt: number }).attempt)).toEqual([1, 2]);
    // The lost attempt never ran; the second one ran once.
    expect(readExecutions(fleet.log, runId).map((e) => e.attempt)).toEqual([2]);
  }, 120_000);
});

describe("faults - retention", () => {
  const fleet = useFleet("fretain", { coordinators: [[...COORDINATOR, "--retention", "2s"]], workers: [{ id: "w1", flags: ["--concurrency", "4"] }] });

  it("faults - with --retention 2s a finished run's history and summary go, a running run stays", async () => {
    const { transport } = fleet.client;
    // Still running well after the finished run expired (2 s after it ended, swept every second).
    const running = await fleet.client.start("single", { ms: 8_000 });
    const finished = await fleet.client.start("single", { ms: 50 });
    const done = await fleet.finish(finished.runId);
    expect(done.record.status).toBe("succeeded");
    expect(await transport.buckets.runs.get(`run.${finished.runId}`)).not.toBeNull();

    // Expired 2 s after it finished; the sweep runs every second.
    await expect.poll(async () => (await transport.readHistory(finished.runId)).messages.length, { timeout: 30_000, interval: 250 }).toBe(0);
    await expect(fleet.client.get(finished.runId)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });
    const entry = await transport.buckets.runs.get(`run.${finished.runId}`);
    expect(entry === null || entry.operation !== "PUT").toBe(true);
    expect((await transport.buckets.runs.keys(`done.*.${finished.runId}`).then(collect))).toEqual([]);

    // The run still running is untouched: its history, its summary, and it goes on to succeed.
    expect((await transport.readHistory(running.runId)).messages.length).toBeGreaterThan(0);
    expect((await fleet.client.get(running.runId)).status).toBe("running");
    const summary = await transport.buckets.runs.get(`run.${running.runId}`);
    expect(summary?.operation).toBe("PUT");
    const rest = await fleet.finish(running.runId);
    expect(rest.record.status, JSON.stringify(rest.record.error)).toBe("succeeded");
    expectOneSucceededPerTask(rest.events, rest.record);
  }, 120_000);
});

describe("faults - prune", () => {
  const fleet = useFleet("fprune", { coordinators: [COORDINATOR], workers: ["w1"] });

  it("faults - phaseflow prune --older-than 1ms removes a finished run at once and says how many", async () => {
    const { transport } = fleet.client;
    const { runId } = await fleet.client.start("single", { ms: 50 });
    expect((await fleet.finish(runId)).record.status).toBe("succeeded");
    expect((await transport.readHistory(runId)).messages.length).toBeGreaterThan(0);

    const prune = spawnPhaseflow(["prune", "--nats", fleet.url, "--prefix", fleet.prefix, "--older-than", "1ms"]);
    expect((await prune.exited).code, prune.output()).toBe(0);
    expect(prune.output()).toContain(`removed 1 finished run: ${runId}`);
    expect((await transport.readHistory(runId)).messages).toEqual([]);
    await expect(fleet.client.get(runId)).rejects.toMatchObject({ code: "RUN_NOT_FOUND" });

    const again = spawnPhaseflow(["prune", "--nats", fleet.url, "--prefix", fleet.prefix, "--older-than", "1ms"]);
    expect((await again.exited).code, again.output()).toBe(0);
    expect(again.output()).toContain("removed 0 finished runs");
  }, 120_000);
});

async function collect(keys: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const k of keys) out.push(k);
  return out;
}
