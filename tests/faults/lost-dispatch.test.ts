// A coordinator stores a run's decision to dispatch a task and dies before the task
// message is in the stream (a new run's first task messages wait until the run's claim is
// stored; a kill -9 in between). The coordinator that takes the run over finds the attempt
// dispatched with no message anywhere in the tasks stream and dispatches it again within
// seconds, instead of leaving the run to the watchdog (10 minutes). Here the window is
// made by hand: the first coordinator and the only worker are killed while three task
// messages wait in the stream, and the stream is emptied before the next coordinator starts.
import { describe, expect, it } from "vitest";
import { natsNames } from "../../src/transport/nats/names.js";
import { expectOneSucceededPerTask, readExecutions, tookOver, useFleet } from "./support.js";

const PREFIX = "flost";

describe("faults - a dispatched task whose message never reached the stream", () => {
  const fleet = useFleet(PREFIX);

  it("faults - the coordinator that takes the run over finds the message missing and dispatches the attempt again, long before the watchdog", async () => {
    const first = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-lost-1"]);
    // One slot: long-0 runs on it, long-1..3 wait in the stream.
    const busy = await fleet.worker("w-busy", ["--concurrency", "1"]);
    const { runId } = await fleet.client.start("long-wide", { ms: 8000 });
    await expect.poll(async () => (await fleet.client.get(runId)).tasks.filter((t) => t.task.startsWith("long-") && t.status === "dispatched").length, { timeout: 60_000 }).toBe(3);
    first.kill("SIGKILL");
    busy.kill("SIGKILL");
    await Promise.all([first.exited, busy.exited]);
    // What the dead coordinator would have left had it died before sending: the decision, no message.
    const { jsm } = fleet.client.transport;
    const stream = natsNames(PREFIX).streams.tasks;
    await jsm.streams.purge(stream);
    expect((await jsm.streams.info(stream)).state.messages).toBe(0);

    const second = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-lost-2"]);
    await tookOver(second, runId);
    await second.waitForLog((l) => l.runId === runId && String(l.msg).startsWith("suspicious: a task message is not in the tasks stream"), 30_000);
    await fleet.worker("w-lost", ["--concurrency", "4"]);
    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    const executions = readExecutions(fleet.log, runId);
    const count = (task: string): number => executions.filter((e) => e.taskId === `work/${task}`).length;
    // The tasks whose messages were lost were dispatched again (attempt 2) and ran once; long-0 ran again after its worker died.
    for (const task of ["long-1", "long-2", "long-3"]) {
      expect(record.tasks.find((t) => t.task === task)!.attempts, task).toBe(2);
      expect(count(task), task).toBe(1);
    }
    expect(count("long-0")).toBeLessThanOrEqual(2);
    expect(count("prep")).toBe(1);
    expect(count("join")).toBe(1);
  }, 180_000);
});
