// 1,000 random malformed messages on the engine's subjects (task queues, a run's
// decision and report subjects, API requests, control, live signals) while a run goes on: the run succeeds, no process exits, and
// the malformed messages are counted where the operator can see them (worker
// heartbeats, coordinator stats).
import { describe, expect, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { typedKv } from "../../src/transport/nats/typed-kv.js";
import { workerHeartbeatSchema } from "../../src/fleet/heartbeat.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { mulberry32 } from "../../workers/lib/prng.js";
import { COORDINATOR, expectOneSucceededPerTask, useFleet } from "./support.js";

function junk(rand: () => number, runId: string): Uint8Array {
  const kind = Math.floor(rand() * 7);
  const enc = new TextEncoder();
  const at = Date.now();
  switch (kind) {
    case 0: // not JSON at all
      return Uint8Array.from({ length: 1 + Math.floor(rand() * 64) }, () => Math.floor(rand() * 256));
    case 1: // JSON of the wrong type
      return enc.encode(JSON.stringify([rand(), "x", null]));
    case 2: // a task message missing fields (no token, attempt of the wrong type)
      return enc.encode(JSON.stringify({ v: 2, runId, state: "grid", visit: 1, task: "root-0", attempt: "one", executor: "faults/short" }));
    case 3: // a decision with an event of an unknown type
      return enc.encode(JSON.stringify({ v: 2, kind: "decision", runId, by: "forger", epoch: 0, through: 0, at, events: [{ type: "task.exploded", state: "grid", visit: 1, task: "root-0" }] }));
    case 4: // a report missing its token and dispatch id
      return enc.encode(JSON.stringify({ v: 2, kind: "report", type: "attempt.succeeded", runId, at, state: "grid", visit: 1, task: "root-0", attempt: 1, workerId: "forger", durationMs: 1 }));
    case 5: // a message of protocol v1
      return enc.encode(JSON.stringify({ v: 1, type: "task.succeeded", runId, at, state: "grid", visit: 1, task: "root-0", attempt: 1 }));
    default: // truncated JSON
      return enc.encode('{"v":2,"kind":"report","type":"attempt.succeeded","runId":"' + runId);
  }
}

describe("faults - malformed messages", () => {
  const fleet = useFleet("fmal", { coordinators: [[...COORDINATOR, "--id", "c1"]], workers: ["w1", "w2"] });

  it("faults - 1,000 malformed messages during a run: it succeeds, nothing crashes, the count is reported", async () => {
    const { runId } = await fleet.client.start("fifty", { ms: 30 });
    const nc = fleet.client.transport.connection;
    const js = jetstream(nc);
    const rand = mulberry32(1234); // seeded, so a failure can be replayed
    const subjects = [
      "fmal.task.faults.short",
      "fmal.task.faults.quick",
      `fmal.evt.${runId}.d`,
      `fmal.evt.${runId}.r`,
      "fmal.evt.run_unknown.r",
      "fmal.api.run.start",
      "fmal.api.run.get",
      "fmal.ctl",
      `fmal.live.${runId}`,
    ];
    let sentTasks = 0;
    for (let i = 0; i < 1000; i++) {
      const subject = subjects[i % subjects.length]!;
      const data = junk(rand, runId);
      if (subject.startsWith("fmal.task.") || subject.startsWith("fmal.evt.")) {
        await js.publish(subject, data);
        if (subject.startsWith("fmal.task.")) sentTasks++;
      } else {
        nc.publish(subject, data);
      }
    }
    await nc.flush();
    const { record, events } = await fleet.finish(runId);
    expect(record.status).toBe("succeeded");
    expect(record.tasks).toHaveLength(50);
    expectOneSucceededPerTask(events, record);
    for (const p of fleet.processes) expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();

    // Workers terminated the malformed task messages and count them in their heartbeats.
    const heartbeats = typedKv(fleet.client.transport.buckets.workers, workerHeartbeatSchema, createSilentLogger());
    await expect
      .poll(
        async () => {
          let total = 0;
          for (const key of await heartbeats.keys()) total += (await heartbeats.get(key))?.value.malformed ?? 0;
          return total;
        },
        { timeout: 20_000, interval: 500 },
      )
      .toBeGreaterThanOrEqual(sentTasks);
    // The coordinator counted the malformed decisions, reports and API requests it saw.
    const coordinatorId = String((await fleet.processes[0]!.waitForLog((l) => l.msg === "coordinator started")).coordinatorId);
    expect(coordinatorId.startsWith("c1~"), coordinatorId).toBe(true);
    const reply = await nc.request(`fmal.api.coordinator.${coordinatorId}.stats`, new TextEncoder().encode("{}"), { timeout: 5000 });
    const stats = JSON.parse(new TextDecoder().decode(reply.data)) as { ok: boolean; malformed: number };
    expect(stats.ok).toBe(true);
    expect(stats.malformed).toBeGreaterThan(100);
    // And a fresh run still works.
    const again = await fleet.client.start("fifty", { ms: 1 });
    expect((await fleet.finish(again.runId)).record.status).toBe("succeeded");
  }, 180_000);
});
