// README "Traffic control": an embedded engine's `engine.queues()` gives what a fleet's
// `client.queues()` gives (waiting, running and rate use per limit and key, in the same
// shape), and the embedded web view's Workers page gets it from /api/queues. Executors are
// held on gates: the test waits on their starts, never on time.
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { queueRowSchema } from "../../src/fleet/queues-report.js";
import { createEmbeddedBackend } from "../../src/ui/embedded-backend.js";
import { startUiServer, type UiServer } from "../../src/ui/server.js";
import { heldRuns } from "../support/held-runs.js";
import { testEngine, type TestEngine } from "../support/runtime-fixtures.js";

const input = z.object({ user: z.string(), name: z.string() });
const wf = workflow("queued-calls", { version: "1", input });
wf.state("s").task("call", {
  executor: "rl/work",
  input,
  concurrency: { limit: 1, key: (i: { user: string }) => i.user },
  rateLimit: { limit: 10, periodMs: 60_000, key: (i: { user: string }) => i.user },
});

let env: TestEngine | undefined;
let ui: UiServer | undefined;
afterEach(async () => {
  await ui?.close();
  await env?.close();
  ui = undefined;
  env = undefined;
});

describe("embedded - engine.queues()", () => {
  it("embedded - engine.queues() shows per limit and key the running, waiting and rate use, as client.queues() does; the web view serves it", async () => {
    env = testEngine({ concurrency: 8 });
    const held = heldRuns();
    env.registry.namespace("rl").register("work", held.executor);
    const engine = env.engine;
    expect(await engine.queues()).toEqual({ rows: [], unanswered: [] });

    const handles = await Promise.all([
      engine.run(wf, { user: "ann", name: "a1" }),
      engine.run(wf, { user: "ann", name: "a2" }),
      engine.run(wf, { user: "ann", name: "a3" }),
      engine.run(wf, { user: "bob", name: "b1" }),
    ]);
    await held.started("b1");
    const expected = [
      { scope: "rl/work", key: "ann", waiting: 2, concurrency: { running: 1, limit: 1 }, rate: { started: 1, limit: 10, periodMs: 60_000 } },
      { scope: "rl/work", key: "bob", waiting: 0, concurrency: { running: 1, limit: 1 }, rate: { started: 1, limit: 10, periodMs: 60_000 } },
    ];
    // The two later runs of ann reach the limit's queue as their runs dispatch them.
    await vi.waitFor(async () => expect((await engine.queues()).rows).toEqual(expected), { timeout: 20_000, interval: 20 });
    const { rows, unanswered } = await engine.queues();
    expect(unanswered).toEqual([]);
    // The fleet's wire shape.
    for (const row of rows) expect(queueRowSchema.parse(row)).toEqual(row);

    // The embedded web view's Workers page reads the same rows.
    const backend = createEmbeddedBackend({ engine, transport: env.transport, workflow: wf, registry: env.registry, concurrency: 8 });
    ui = await startUiServer({ backend, port: 0, flushMs: 5 });
    const res = await fetch(`${ui.url}api/queues`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ rows: expected, unanswered: [] });

    for (const name of ["a1", "a2", "a3", "b1"]) held.release(name);
    for (const h of handles) expect((await h.result()).status).toBe("succeeded");
    const after = (await engine.queues()).rows;
    expect(after.map((r) => [r.key, r.waiting, r.concurrency?.running])).toEqual([
      ["ann", 0, 0],
      ["bob", 0, 0],
    ]);
  });
});
