// Fencing at the shell: a coordinator whose run another coordinator claimed since it
// last wrote gets its next decision refused, lets the run go (RUN_RELEASED) and changes
// nothing in it; the new holder finishes the run with one accepted result per task.
import { describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { createRegistry } from "../../src/registry/registry.js";
import { createEngine } from "../../src/embedded/engine.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import { createMemoryHub } from "../../src/transport/memory/index.js";
import { gate } from "../support/runtime-fixtures.js";

describe("runtime - fencing", () => {
  it("runtime - a coordinator that lost its run to another one is fenced out at its next decision and changes nothing", async () => {
    const wf = workflow("fence", { version: "1" });
    const s = wf.state("s");
    const a = s.task("a", { executor: "t/a" });
    const b = s.task("b", { executor: "t/b" });
    a.then(b);
    const aStarted = gate();
    const aRelease = gate();
    const runsOfB: string[] = [];
    const registry = createRegistry();
    registry
      .namespace("t")
      .register("a", async () => {
        aStarted.open();
        await aRelease.opened;
        return { a: 1 };
      })
      .register("b", (input: { a: number }, ctx) => {
        runsOfB.push(ctx.idempotencyKey);
        return { b: input.a + 1 };
      });
    const hub = createMemoryHub({ wire: "strict" });
    const tA = hub.connect();
    const tB = hub.connect();
    // A runs the only worker; B is a second coordinator on the same hub.
    const engineA = createEngine({ registry, transport: tA, worker: true, coordinatorId: "a" });
    const engineB = createEngine({ transport: tB, worker: false, coordinatorId: "b" });
    try {
      const runA = await engineA.run(wf, undefined);
      const resultA = runA.result();
      await aStarted.opened;

      // B takes the run over while A still believes it holds it (A was paused, say).
      const runB = await engineB.resume(wf, (await tB.readHistory(runA.runId)).messages);
      await expect.poll(async () => historyEvents((await tB.readHistory(runA.runId)).messages).some((e) => e.type === "run.claimed" && e.owner === engineB.coordinatorId)).toBe(true);

      // Task a reports: both coordinators see it; A's next decision is refused, B's is stored.
      aRelease.open();
      await expect(resultA).rejects.toMatchObject({ code: "RUN_RELEASED" });
      const record = await runB.result();
      expect(record.status).toBe("succeeded");
      expect(record.output).toEqual({ b: 2 });

      const { messages } = await tB.readHistory(runA.runId);
      const decisions = messages.flatMap((m) => (m.message.kind === "decision" ? [m.message] : []));
      const claimAt = decisions.findIndex((d) => d.events.some((e) => e.type === "run.claimed" && e.owner === engineB.coordinatorId));
      expect(claimAt).toBeGreaterThan(0);
      // Before B's claim only A wrote; after it only B did.
      expect(decisions.slice(0, claimAt).every((d) => d.by === engineA.coordinatorId)).toBe(true);
      expect(decisions.slice(claimAt).every((d) => d.by === engineB.coordinatorId)).toBe(true);
      // One accepted success per task, and the stored record is the one B returned.
      const folded = recordOfHistory(messages);
      expect(folded.tasks.map((t) => [t.task, t.status])).toEqual([
        ["a", "succeeded"],
        ["b", "succeeded"],
      ]);
      expect(folded.output).toEqual({ b: 2 });
      // A may have sent its own task message for b before its decision was refused: that
      // attempt's report carries a token no stored decision knows, so it is refused.
      expect(runsOfB.length).toBeGreaterThanOrEqual(1);
    } finally {
      await engineA.close();
      await engineB.close();
    }
  });
});
