// A coordinator stores a run's decision to dispatch a task and dies before the task
// message is in the stream (a new run's first task messages wait until the run's claim is
// stored; a kill -9 in between). The coordinator that takes the run over finds the attempt
// dispatched with no message anywhere in the tasks stream and dispatches it again within
// seconds, instead of leaving the run to the watchdog (10 minutes). Here the window is
// made by hand: the first coordinator is killed while no worker runs, and the stream is
// emptied before the next one starts (the only worker was paused, then killed).
import { describe, expect, it } from "vitest";
import { natsNames } from "../../src/transport/nats/names.js";
import { expectOneSucceededPerTask, readExecutions, tookOver, useFleet } from "./support.js";

const PREFIX = "flost";

describe("faults - a dispatched task whose message never reached the stream", () => {
  const fleet = useFleet(PREFIX);

  it("faults - the coordinator that takes the run over finds the message missing and dispatches the attempt again, long before the watchdog", async () => {
    const first = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-lost-1"]);
    // A run starts once a worker serves its namespace; this one is paused and never runs anything.
    const paused = await fleet.worker("w-paused");
    paused.kill("SIGSTOP");
    const { runId } = await fleet.client.start("long-wide", { ms: 200 });
    await expect.poll(async () => (await fleet.client.get(runId)).tasks.find((t) => t.task === "prep")?.status, { timeout: 30_000 }).toBe("dispatched");
    first.kill("SIGKILL");
    paused.kill("SIGKILL");
    await Promise.all([first.exited, paused.exited]);
    // What the dead coordinator would have left had it died before sending: the decision, no message.
    const { jsm } = fleet.client.transport;
    const stream = natsNames(PREFIX).streams.tasks;
    await jsm.streams.purge(stream);
    expect((await jsm.streams.info(stream)).state.messages).toBe(0);

    const second = await fleet.coordinator(["--lease-ms", "2000", "--id", "c-lost-2"]);
    await tookOver(second, runId);
    await second.waitForLog((l) => l.runId === runId && String(l.msg).startsWith("suspicious: a task message is not in the tasks stream"), 30_000);
    await fleet.worker("w-lost");
    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expectOneSucceededPerTask(events, record);
    const prep = record.tasks.find((t) => t.task === "prep")!;
    expect(prep.attempts).toBe(2);
    // The first attempt never reached a worker: prep ran once.
    expect(readExecutions(fleet.log, runId).filter((e) => e.taskId === "work/prep")).toHaveLength(1);
  }, 120_000);
});
