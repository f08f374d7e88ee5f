// A task message whose ids do not fit together is no attempt any coordinator
// dispatched: the worker terminates it unrun, reports nothing and counts it; the next
// task still runs. And a message that carries `inputFrom` gets its input rebuilt from
// its parents' outputs (they travel once).
import { afterEach, describe, expect, it } from "vitest";
import { startRig, type Rig } from "./worker-harness.js";

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe("worker - undeliverable task messages", () => {
  it("worker - terminates a task message with mismatched ids unrun, counts it, and keeps serving", async () => {
    const ran: string[] = [];
    rig = await startRig((r) => r.namespace("t").register("run", (_input, ctx) => (ran.push(ctx.task), { ok: true })));
    await rig.coordinator.dispatch(rig.task("forged", { dispatchId: `${rig.runId}/elsewhere/1/forged/1` }));
    await rig.coordinator.dispatch(rig.task("real"));
    await rig.result("real");
    expect(ran).toEqual(["real"]);
    expect(rig.worker.stats().undeliverable).toBe(1);
    expect(rig.eventsOf("forged")).toEqual([]);
    expect(rig.hub.stats().queued).toBe(0);
  });

  it("worker - rebuilds a task's input from its parents' outputs when the message names the merge", async () => {
    let seen: unknown;
    rig = await startRig((r) => r.namespace("t").register("run", (input: unknown) => ((seen = input), null)));
    await rig.coordinator.dispatch(rig.task("child", { input: undefined, inputFrom: ["a", "b"], parents: { a: { x: 1, y: 1 }, b: { y: 2 }, c: { z: 3 } } }));
    await rig.result("child");
    expect(seen).toEqual({ x: 1, y: 2 });
  });
});
