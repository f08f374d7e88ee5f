// The review-loop example end to end, embedded on fake time: a reviewer's verdicts
// (signals) drive it back for a revision and then on to publishing; a bad verdict is
// refused and changes nothing; no verdict within a day routes it to "expired".
import { afterEach, describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import type { RunHandle } from "../../src/runtime/shell/run-handle.js";
import { REVIEW_TIMEOUT_MS, reviewLoop } from "../../examples/review-loop.js";
import { draftText, registry } from "../../workers/docs.js";
import { createFakeClock, type FakeClock } from "../support/fake-clock.js";

let engine: Engine | undefined;
let clock: FakeClock;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

async function waitingVisit(run: RunHandle, visit: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (run.status().tasks.some((t) => t.task === "verdict" && t.visit === visit && t.wait?.kind === "signal")) return;
    await clock.flush();
  }
  throw new Error(`verdict of visit ${visit} is not waiting: ${JSON.stringify(run.status().tasks)}`);
}

describe("examples - review-loop", () => {
  it("examples - review-loop compiles with its executors; verdict is a signal node the route follows through record", () => {
    const plan = compile(reviewLoop, { registry });
    const drafting = plan.states.find((s) => s.name === "drafting")!;
    expect(drafting.phases).toEqual([["draft"], ["verdict"], ["record"]]);
    expect(drafting.tasks.find((t) => t.name === "verdict")?.wait).toEqual({ kind: "signal", signal: "verdict", timeoutMs: REVIEW_TIMEOUT_MS, onTimeout: { output: { pathway: "expired", note: "no review within a day" } } });
    expect(drafting.route).toEqual({ router: "record", pathways: { approve: "published", revise: "drafting", expired: "expired" } });
  });

  it("examples - review-loop goes back for a revision on 'revise' and publishes on 'approve'; a bad verdict is refused", async () => {
    clock = createFakeClock();
    const e = (engine = createEngine({ registry, clock }));
    const run = await e.run(reviewLoop, { topic: "signals", notes: [] });
    await waitingVisit(run, 1);
    await expect(e.signal(run.runId, "verdict", { pathway: "maybe" })).rejects.toMatchObject({ code: "SIGNAL_PAYLOAD_INVALID" });
    await e.signal(run.runId, "verdict", { pathway: "revise", note: "add an example" });
    await waitingVisit(run, 2);
    await e.signal(run.runId, "verdict", { pathway: "approve" });
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.states.map((s) => `${s.name}#${s.visit}`)).toEqual(["drafting#1", "drafting#2", "published#1"]);
    expect(record.output).toEqual({ topic: "signals", revision: 2, text: draftText("signals", ["add an example"]), published: true });
    expect(record.signals?.map((s) => s.consumedBy)).toEqual(["drafting/verdict", "drafting/verdict"]);
  });

  it("examples - review-loop routes to 'expired' when no verdict comes within a day", async () => {
    clock = createFakeClock();
    const e = (engine = createEngine({ registry, clock }));
    const run = await e.run(reviewLoop, { topic: "sleep", notes: [] });
    await waitingVisit(run, 1);
    await clock.advance(REVIEW_TIMEOUT_MS);
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.states.map((s) => s.name)).toEqual(["drafting", "expired"]);
    expect(record.output).toMatchObject({ pathway: "expired", note: "no review within a day", revision: 1 });
  });
});
