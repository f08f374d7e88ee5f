// A task whose every delivery dies with its worker: once JetStream has delivered it
// --max-deliver times it stops, and the coordinator (from the server's MAX_DELIVERIES
// advisory) counts that as a failed attempt under the task's retry policy — the run
// fails with the reason instead of hanging. But an advisory alone is not proof: one for
// an attempt a worker is still running (as a nats-server restarted after SIGKILL once
// sent, 60 ms after coming back) fails nothing.
import { describe, expect, it } from "vitest";
import { COORDINATOR, expectOneSucceededPerTask, readExecutions, useFleet, waitForLive } from "./support.js";

describe("faults - exhausted redeliveries", () => {
  const flags = ["--max-deliver", "2", "--ack-wait", "1000"];
  const fleet = useFleet("fmaxd", { coordinators: [COORDINATOR], workers: [{ id: "w1", flags }, { id: "w2", flags }] });

  it("faults - a task delivered max-deliver times without a result fails its attempt, and the run fails", async () => {
    const { runId } = await fleet.client.start("crasher", undefined);
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("failed");
    const task = record.tasks[0]!;
    expect(task.status).toBe("failed");
    expect(task.error?.code).toBe("MAX_DELIVERIES_EXCEEDED");
    expect(record.error?.message).toContain("MAX_DELIVERIES_EXCEEDED");
    // Both workers took it once and died with it.
    expect(readExecutions(fleet.log, runId)).toHaveLength(2);
    for (const w of fleet.processes.filter((p) => p.lines.some((l) => l.msg === "worker started"))) expect((await w.exited).signal).toBe("SIGKILL");
  }, 120_000);
});

describe("faults - a max-deliveries advisory for an attempt still running", () => {
  const fleet = useFleet("fmaxd2", { coordinators: [COORDINATOR], workers: ["w1"] });

  it("faults - an advisory for an attempt a worker is running (as after a nats-server SIGKILL restart) fails nothing; the run succeeds", async () => {
    const { runId } = await fleet.client.start("single", { ms: 8000 });
    const started = await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started");
    const { names, jsm, connection } = fleet.client.transport;
    const message = await jsm.streams.getMessage(names.streams.tasks, { last_by_subj: names.subjects.namespaceTasks("faults").replace(/>$/, "long") });
    expect(message?.seq).toBeGreaterThan(0);
    // What the restarted server sent: the task's deliveries exhausted, while its worker held it.
    const consumer = names.namespaceConsumer("faults");
    const advisory = { type: "io.nats.jetstream.advisory.v1.max_deliver", stream: names.streams.tasks, consumer, stream_seq: message!.seq, deliveries: 5 };
    connection.publish(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.streams.tasks}.${consumer}`, new TextEncoder().encode(JSON.stringify(advisory)));
    const coordinator = fleet.coordinators[0]!;

    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    expect(record.tasks[0]!.attempts).toBe(1);
    expect(record.tasks[0]!.workerId).toBe(started.workerId);
    expect(events.filter((e) => e.type === "attempt.failed")).toEqual([]);
    expect(readExecutions(fleet.log, runId)).toHaveLength(1);
    expect(coordinator.lines.some((l) => l.msg === "task exhausted its deliveries: reported as a failed attempt")).toBe(false);
    // The coordinator saw the advisory and said why it failed nothing.
    expect(coordinator.lines.some((l) => typeof l.msg === "string" && l.msg.startsWith("max-deliveries advisory for an attempt a worker is still running"))).toBe(true);
  }, 120_000);
});
