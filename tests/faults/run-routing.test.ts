// Requests about a pinned run reach a coordinator serving its plan (README "Deploying new versions"):
// with one coordinator serving gate@1 and another serving only gate@2, every signal and
// every retry of a gate@1 run succeeds, whichever coordinator of the queue group gets it
// (the one serving only v2 forwards it to `run.<op>.wf.gate.v.1`).
import { describe, expect, inject, it } from "vitest";
import { Fleet, newExecutionLog } from "./support.js";

const V1 = "tests/fixtures/versions/gate-v1.ts";
const V2 = "tests/fixtures/versions/gate-v2.ts";

describe("faults - requests reach the run's plan", () => {
  it("faults - signals, retries and retry --from of a v1 run reach the v1 coordinator", async () => {
    const fleet = new Fleet(inject("natsUrl"), "fvrunroute", newExecutionLog());
    try {
      await Promise.all([fleet.coordinatorOf([V1]), fleet.coordinatorOf([V2]), fleet.worker("w1", ["--concurrency", "4"])]);
      await fleet.connect();
      const { runId, version } = await fleet.client.start("gate", {}, { version: "1" });
      expect(version).toBe("1");
      // Each lands on either coordinator: all are stored ("hold" waits behind "go", so the run runs on until "go").
      for (let i = 0; i < 6; i++) {
        const sent = await fleet.client.signal(runId, "hold", { kind: `k${i}` }, { id: `hold-${i}` });
        expect(sent).toMatchObject({ runId, name: "hold", id: `hold-${i}`, duplicate: false });
      }
      expect(await fleet.client.signal(runId, "go", {})).toMatchObject({ runId, name: "go", duplicate: false });
      let { record } = await fleet.finish(runId);
      expect(record.status).toBe("failed");
      for (let i = 0; i < 4; i++) {
        await fleet.client.retry(runId, i % 2 === 0 ? undefined : { state: "main", task: "check" });
        // This retry's end: the history holds i + 1 run.retried and a run.failed after the last of them
        // (a follow from the start would stop at the first end it reads, the one before any retry).
        await expect
          .poll(
            async () => {
              const history = await fleet.history(runId);
              const lastRetried = history.findLastIndex((e) => e.type === "run.retried");
              return history.filter((e) => e.type === "run.retried").length === i + 1 && history.findLastIndex((e) => e.type === "run.failed") > lastRetried;
            },
            { timeout: 60_000, interval: 200 },
          )
          .toBe(true);
        record = await fleet.foldedRecord(runId);
        expect(record.status).toBe("failed");
        expect(record.version).toBe("1");
      }
      const retried = (await fleet.history(runId)).filter((e) => e.type === "run.retried");
      expect(retried).toHaveLength(4);
    } finally {
      await fleet.close();
    }
  }, 180_000);
});
