// Restarting nats-server mid-run loses nothing: streams and buckets are on disk (file
// storage), the coordinator and workers reconnect by themselves, and the run completes
// with exactly one accepted success per task.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";
import { COORDINATOR, Fleet, expectOneSucceededPerTask, newExecutionLog, waitForLive } from "./support.js";

describe("faults - nats-server restart", () => {
  let server: NatsServer;
  let fleet: Fleet;

  beforeAll(async () => {
    server = await startNatsServer();
    fleet = new Fleet(server.url, "frestart", newExecutionLog());
    await fleet.start({ coordinators: [COORDINATOR], workers: ["w1", "w2"] });
  }, 120_000);
  afterAll(async () => {
    await fleet?.close();
    await server?.stop();
  }, 60_000);

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    it(`faults - nats-server stopped with ${signal} and restarted mid-run: the run succeeds`, async () => {
      const { runId } = await fleet.client.start("long-wide", { ms: 3000 });
      await waitForLive(fleet.client, runId, (s) => s.type === "attempt.started" && s.task.startsWith("long-"));
      await server.restart({ signal });
      const { record, events } = await fleet.finish(runId);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expect(record.tasks).toHaveLength(6);
      expectOneSucceededPerTask(events, record);
      for (const p of fleet.processes) expect(p.child.exitCode).toBeNull();
    }, 150_000);
  }
});
