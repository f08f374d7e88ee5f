// Live upgrade of a running run, embedded (README "Deploying new versions"): a compatible run moves onto
// v2's plan mid-run and finishes on v2's later tasks; an incompatible one is refused with
// every reason and nothing changes; a run upgraded just before its engine died resumes on
// the new plan in an engine that serves only v2.
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { createEngine } from "../../src/embedded/engine.js";
import { RunNotFoundError, UsageError } from "../../src/errors/base.js";
import { UpgradeRefusedError } from "../../src/errors/upgrade.js";
import { createRegistry, type Registry } from "../../src/registry/registry.js";
import { createMemoryHub } from "../../src/transport/memory/index.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { testEngine, waitForEvent } from "../support/runtime-fixtures.js";

interface Shape {
  write?: `${string}/${string}`;
  approve?: boolean;
  polish?: boolean;
  later?: boolean;
  notify?: boolean;
  draft?: boolean;
}

/** `review` at `version`: draft (write -> approve [-> polish]) then publish (post [, notify] [, later]). */
function review(version: string, shape: Shape = {}) {
  const wf = workflow("review", { version });
  if (shape.draft !== false) {
    const draft = wf.state("draft");
    const write = draft.task("write", { executor: shape.write ?? "rv/write" });
    if (shape.approve !== false) {
      const approve = draft.signal("approve");
      write.then(approve);
      if (shape.polish) approve.then(draft.task("polish", { executor: "rv/polish" }));
    }
    const publish = wf.state("publish", { final: true });
    draft.transition(publish);
    publish.task("post", { executor: "rv/post" });
    if (shape.notify) publish.task("notify", { executor: "rv/notify" });
    if (shape.later !== false) publish.signal("later", { timeoutMs: 60_000, onTimeout: { output: { late: false } } });
  } else {
    wf.state("publish", { final: true }).task("post", { executor: "rv/post" });
  }
  return wf;
}

function register(registry: Registry): void {
  const ns = registry.namespace("rv");
  for (const name of ["write", "write2", "polish", "post", "notify"]) ns.register(name, () => ({ [name]: true }));
}

const asKnown = (...wfs: Workflow<unknown>[]) => wfs as unknown as Workflow<never>[];

describe("upgrade - embedded", () => {
  it("moves a compatible run onto v2 mid-run; it finishes on v2's later tasks", async () => {
    const v1 = review("1");
    const v2 = review("2", { polish: true, notify: true });
    const t = testEngine({ workflows: asKnown(v1, v2) });
    register(t.registry);
    try {
      const run = await t.engine.run(v1, {}, { version: "1" });
      await waitForEvent(run, "task.waiting", (e) => e.task === "approve");
      const dry = await t.engine.upgrade(run.runId, { toVersion: "2", dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, upgraded: false, issues: [], state: "draft", from: { version: "1" }, to: { version: "2", planHash: compile(v2).planHash } });
      expect(run.status().version).toBe("1");
      const report = await t.engine.upgrade(run.runId, { toVersion: "2" });
      expect(report).toMatchObject({ upgraded: true, dryRun: false, issues: [] });
      // Stored before upgrade() resolved.
      const stored = historyEvents(await t.history(run.runId)).filter((e) => e.type === "run.upgraded");
      expect(stored).toMatchObject([{ from: { version: "1", planHash: compile(v1).planHash }, version: "2", planHash: compile(v2).planHash }]);
      await t.engine.signal(run.runId, "approve", {});
      await t.engine.signal(run.runId, "later", {});
      const record = await run.result();
      expect(record.status).toBe("succeeded");
      expect(record.version).toBe("2");
      expect(record.planHash).toBe(compile(v2).planHash);
      expect(record.upgrades).toMatchObject([{ from: { version: "1" }, version: "2" }]);
      expect(record.tasks.map((x) => `${x.state}/${x.task}:${x.status}`).sort()).toEqual(
        ["draft/approve:succeeded", "draft/polish:succeeded", "draft/write:succeeded", "publish/later:succeeded", "publish/notify:succeeded", "publish/post:succeeded"],
      );
      // write ran once, on v1, and was not run again.
      expect(record.tasks.find((x) => x.task === "write")?.attempts).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("refuses an incompatible upgrade with every reason, and changes nothing", async () => {
    const v1 = review("1");
    const v3 = review("3", { write: "rv/write2", approve: false, later: false });
    const v4 = review("4", { draft: false });
    const t = testEngine({ workflows: asKnown(v1, v3, v4) });
    register(t.registry);
    try {
      const run = await t.engine.run(v1, {}, { version: "1" });
      await waitForEvent(run, "task.waiting", (e) => e.task === "approve");
      // Sent ahead of its node: stored, not consumed yet.
      await t.engine.signal(run.runId, "later", {});
      await waitForEvent(run, "signal.received", (e) => e.name === "later");
      const before = (await t.history(run.runId)).length;
      const refused = await t.engine.upgrade(run.runId, { toVersion: "3" }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UpgradeRefusedError);
      const issues = (refused as UpgradeRefusedError).issues;
      expect(issues.map((i) => `${i.code} ${i.path}`).sort()).toEqual(["EXECUTOR_CHANGED review/draft/write", "SIGNAL_NODE_MISSING review/signal:later", "TASK_MISSING review/draft/approve"]);
      expect((refused as Error).message).toMatch(/run ".*" cannot move from review@1 to review@3: 3 incompatibilities \(nothing was changed\)/);
      expect((refused as Error).message).toMatch(/\[EXECUTOR_CHANGED\] review\/draft\/write: task "write" \(succeeded\) ran executor "rv\/write"; in review@3 it runs "rv\/write2"/);
      const dry = await t.engine.upgrade(run.runId, { toVersion: "4", dryRun: true });
      expect(dry.upgraded).toBe(false);
      expect(dry.issues.map((i) => i.code)).toEqual(["STATE_MISSING", "SIGNAL_NODE_MISSING"]);
      await expect(t.engine.upgrade(run.runId, { toVersion: "4" })).rejects.toThrow(/\[STATE_MISSING\] review\/draft: the run is in state "draft", which review@4 does not have/);
      await expect(t.engine.upgrade(run.runId, { toVersion: "9" })).rejects.toThrow(/version "9" of workflow "review" is not known to this engine \(known: 1, 3, 4\)/);
      await expect(t.engine.upgrade("run_nope", { toVersion: "3" })).rejects.toBeInstanceOf(RunNotFoundError);
      await expect(t.engine.upgrade(run.runId, { toVersion: "1" })).rejects.toThrow(/is on review@1 .* already/);
      // Nothing changed: no event stored, still on v1, and it finishes there.
      expect(await t.history(run.runId)).toHaveLength(before);
      expect(run.status().version).toBe("1");
      await t.engine.signal(run.runId, "approve", {});
      const record = await run.result();
      expect(record.status).toBe("succeeded");
      expect(record.planHash).toBe(compile(v1).planHash);
      expect(record.upgrades).toBeUndefined();
      await expect(t.engine.upgrade(run.runId, { toVersion: "3" })).rejects.toThrow(UsageError);
      await expect(t.engine.upgrade(run.runId, { toVersion: "3" })).rejects.toThrow(/has ended \(succeeded\); only a running run can be upgraded/);
    } finally {
      await t.close();
    }
  });

  it("resumes a run upgraded just before its engine stopped on the new plan, where only v2 is known", async () => {
    const v1 = review("1");
    const v2 = review("2", { polish: true, notify: true });
    const hub = createMemoryHub();
    const registryA = createRegistry();
    register(registryA);
    const a = createEngine({ registry: registryA, transport: hub.connect(), worker: true, workflows: asKnown(v1, v2) });
    const registryB = createRegistry();
    register(registryB);
    const b = createEngine({ registry: registryB, transport: hub.connect(), worker: true, workflows: asKnown(v2) });
    try {
      const run = await a.run(v1, {}, { version: "1" });
      await waitForEvent(run, "task.waiting", (e) => e.task === "approve");
      await a.upgrade(run.runId, { toVersion: "2" });
      // The engine goes away right after the move: nothing more of it is stored.
      await a.close();
      const history = (await hub.connect().readHistory(run.runId)).messages;
      const resumed = await b.resume(v2, history);
      await b.signal(run.runId, "approve", {});
      await b.signal(run.runId, "later", {});
      const record = await resumed.result();
      expect(record.status).toBe("succeeded");
      expect(record.version).toBe("2");
      expect(record.tasks.map((x) => x.task).sort()).toEqual(["approve", "later", "notify", "polish", "post", "write"]);
      expect(record.tasks.find((x) => x.task === "write")?.attempts).toBe(1);
    } finally {
      await a.close();
      await b.close();
      await hub.close();
    }
  });
});
