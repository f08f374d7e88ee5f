// Hostile events in a run's history are skipped and counted by every reader, and the
// run stays readable (status) and resumable (a new coordinator takes it over through
// them); task messages no run can use are terminated (bad ids, by the worker) or swept
// from the tasks stream (unknown run, malformed, no worker: by a coordinator) and
// counted, instead of staying on the server for good.
import { describe, expect, inject, it } from "vitest";
import { jetstream } from "@nats-io/jetstream";
import { typedKv } from "../../src/transport/nats/typed-kv.js";
import { workerHeartbeatSchema } from "../../src/fleet/heartbeat.js";
import { createSilentLogger } from "../../src/support/logger.js";
import { runRecordSchema } from "../../src/runtime/core/run-record-schema.js";
import { WIRE_VERSION, dispatchIdOf } from "../../src/transport/messages.js";
import { spawnPhaseflow } from "../support/processes.js";
import { COORDINATOR, useFleet, waitForExecution } from "./support.js";

const enc = new TextEncoder();

describe("faults - nothing poisons a run, nothing sticks on the server", () => {
  const url = inject("natsUrl");
  const fleet = useFleet("fstk", { coordinators: [[...COORDINATOR, "--id", "c1", "--task-sweep-ms", "500"]], workers: ["w1"] });

  const statsOf = async (prefix: string): Promise<{ malformed: number; undeliverable: number }> => {
    const nc = fleet.client.transport.connection;
    const lines = fleet.processes.flatMap((p) => p.lines).filter((l) => l.msg === "coordinator started" && String(l.coordinatorId).startsWith(prefix));
    const id = String(lines.at(-1)!.coordinatorId);
    const reply = await nc.request(`fstk.api.coordinator.${id}.stats`, enc.encode("{}"), { timeout: 5000 });
    return JSON.parse(new TextDecoder().decode(reply.data)) as { malformed: number; undeliverable: number };
  };

  it("faults - hostile events in a run's history are skipped and counted; the run stays readable and is resumed by the next coordinator", async () => {
    const { runId } = await fleet.client.start("single", { ms: 3000 });
    await waitForExecution(fleet.log, runId, () => true);
    const js = jetstream(fleet.client.transport.connection);
    const subject = `fstk.evt.${runId}.r`;
    // A report whose error.cause chain is 3,000 deep (what overflowed a recursive schema).
    let chain = '{"name":"E","code":"E","message":"m","retryable":true}';
    for (let i = 0; i < 3000; i++) chain = `{"name":"E","code":"E","message":"m","retryable":true,"cause":${chain}}`;
    const base = { v: WIRE_VERSION, kind: "report", type: "attempt.failed", runId, at: Date.now(), state: "only", visit: 1, task: "long", attempt: 1, dispatchId: dispatchIdOf(runId, "only", 1, "long", 1), token: "forged-token-0123456789", workerId: "forger", durationMs: 1 };
    await js.publish(subject, enc.encode(JSON.stringify({ ...base, error: "X" }).replace('"X"', chain)));
    // Not JSON, and JSON nested 50,000 deep.
    await js.publish(subject, Uint8Array.from([0xff, 0x00, 0x7b]));
    await js.publish(subject, enc.encode("[".repeat(50_000) + "]".repeat(50_000)));
    // A well-formed report with a deep (capped) error and a forged token: decoded, then refused by the run.
    let error: Record<string, unknown> = { name: "E", code: "E", message: "deepest", retryable: false };
    for (let i = 0; i < 60; i++) error = { name: "E", code: "E", message: `m${i}`, retryable: false, cause: error };
    await js.publish(subject, enc.encode(JSON.stringify({ ...base, error })));

    // The holder dies; the next coordinator resumes the run by reading that history.
    fleet.processes[0]!.kill("SIGKILL");
    await fleet.coordinator(["--lease-ms", "2000", "--id", "c2", "--task-sweep-ms", "500"]);
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("succeeded");
    expect(record.tasks[0]!.attempts).toBe(1);

    // Every reader skips and counts them: this client's history read, the new holder, `phaseflow status`.
    const before = fleet.client.transport.stats().malformed;
    const folded = await fleet.foldedRecord(runId);
    expect(folded.status).toBe("succeeded");
    expect(fleet.client.transport.stats().malformed - before).toBe(3);
    expect((await statsOf("c2~")).malformed).toBeGreaterThanOrEqual(3);
    const status = spawnPhaseflow(["status", runId, "--json", "--nats", url, "--prefix", "fstk"]);
    let stdout = "";
    status.child.stdout!.on("data", (c: string) => (stdout += c));
    expect((await status.exited).code, status.output()).toBe(0);
    expect(runRecordSchema.parse(JSON.parse(stdout)).status).toBe("succeeded");
  }, 120_000);

  it("faults - undeliverable task messages are terminated or swept from the tasks stream, and counted", async () => {
    const js = jetstream(fleet.client.transport.connection);
    const jsm = fleet.client.transport.jsm;
    const task = (runId: string, over: Record<string, unknown> = {}) => ({
      v: WIRE_VERSION, runId, planHash: "0".repeat(64), workflow: "single", state: "only", visit: 1, task: "long", attempt: 1,
      dispatchId: dispatchIdOf(runId, "only", 1, "long", 1), executor: "faults/quick", idempotencyKey: `${runId}/only/1/long`, input: {}, parents: {},
      deadline: null, timeoutMs: null, dispatchedAt: Date.now(), round: 0, epoch: 1, token: "forged-token-0123456789", ...over,
    });
    // A task of a run that does not exist, for a namespace no worker serves: nobody would ever take it.
    await js.publish("fstk.task.nowhere.x", enc.encode(JSON.stringify(task("run_never_started", { executor: "nowhere/x" }))));
    // Malformed, where no worker looks either.
    await js.publish("fstk.task.nowhere.y", enc.encode('{"v":3,"runId":'));
    // Ids that do not fit together, on a queue a worker serves: the worker terminates it unrun.
    await js.publish("fstk.task.faults.quick", enc.encode(JSON.stringify(task("run_forged", { dispatchId: "run_forged/elsewhere/1/x/1" }))));

    await expect.poll(async () => (await jsm.streams.info("FSTK_TASKS")).state.messages, { timeout: 20_000, interval: 250 }).toBe(0);
    const stats = await statsOf("c2~");
    expect(stats.undeliverable).toBeGreaterThanOrEqual(2);
    const heartbeats = typedKv(fleet.client.transport.buckets.workers, workerHeartbeatSchema, createSilentLogger());
    await expect
      .poll(async () => {
        let n = 0;
        for (const key of await heartbeats.keys()) n += (await heartbeats.get(key))?.value.undeliverable ?? 0;
        return n;
      }, { timeout: 20_000, interval: 250 })
      .toBe(1);
    // And the fleet still runs work.
    const { runId } = await fleet.client.start("fifty", { ms: 1 });
    expect((await fleet.finish(runId)).record.status).toBe("succeeded");
  }, 120_000);
});
