// Child workflows on a fleet (DESIGN §10): two coordinators serving the parent and the
// child workflows and a worker, as real processes. A parent with a child node and a map
// over 3 child runs ends with the same output as embedded; the children are real fleet
// runs naming their parent (and listed by it); a cancelled parent cancels its running
// child; and a parent whose coordinator is killed with kill -9 while its children run is
// taken over and finishes, with no child started twice.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { createEngine } from "../../src/embedded/engine.js";
import { childRunIdOf } from "../../src/runtime/core/children.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { startCoordinatorProcess, startWorkerProcess, type PhaseflowProcess } from "../support/processes.js";
import { registry } from "../fixtures/children/executors.js";
import { family } from "../fixtures/children/workflows.js";
import { COORDINATOR, expectOneSucceededPerTask, tookOver, useFleet, waitForEvent } from "./support.js";

const WORKFLOWS = "tests/fixtures/children/workflows.ts";
const EXECUTORS = "tests/fixtures/children/executors.ts";

/** The CLI in-process, its output collected. */
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false });
  return { code, stdout, stderr };
}

/** The child run ids a parent's record names, by node (instances `each[k]` included). */
const childrenOf = (record: RunRecord): Map<string, string> => new Map(record.tasks.flatMap((t) => (t.child !== undefined ? [[t.task, t.child] as const] : [])));

describe("faults - child workflows on a fleet", () => {
  // The fleet's own coordinators serve the fault workflows; these serve the children's.
  const fleet = useFleet("fkids", {});
  const coordinators: PhaseflowProcess[] = [];
  const up = async (): Promise<void> => {
    if (coordinators.length > 0) return;
    const [a, b] = await Promise.all([fleet.coordinatorOf([WORKFLOWS], [...COORDINATOR, "--id", "k-a"]), fleet.coordinatorOf([WORKFLOWS], [...COORDINATOR, "--id", "k-b"])]);
    coordinators.push(a, b);
    fleet.processes.push(await startWorkerProcess(fleet.url, fleet.prefix, [EXECUTORS], ["--id", "kw", "--concurrency", "8", "--ack-wait", "2000"], fleet.env));
  };

  it("faults - a parent with a child node and a map over 3 child runs ends with the same output embedded and on the fleet; records and the run list link parent and children", async () => {
    await up();
    const engine = createEngine({ registry });
    let embedded: RunRecord;
    try {
      embedded = await (await engine.run(family, { base: 7, ms: 0 })).result();
    } finally {
      await engine.close();
    }
    expect(embedded.status).toBe("succeeded");

    const { runId } = await fleet.client.start("family", { base: 7, ms: 0 });
    const { record } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.output).toEqual(embedded.output);

    const children = childrenOf(record);
    expect([...children.keys()].sort()).toEqual(["each[0]", "each[1]", "each[2]", "one"]);
    for (const [task, child] of children) {
      expect(child).toBe(childRunIdOf(runId, "main", 1, task, 1));
      const c = await fleet.client.get(child);
      expect(c.workflow).toBe("enrich");
      expect(c.status).toBe("succeeded");
      expect(c.parent).toMatchObject({ runId, state: "main", task, attempt: 1, depth: 1 });
    }
    const listed = await fleet.client.list({ parent: runId });
    expect(listed.map((r) => r.runId).sort()).toEqual([...children.values()].sort());
    for (const r of listed) expect(r.parent).toBe(runId);

    // The same through the CLI: the list by parent, the parent's view, a child's view, export.
    const flags = ["--nats", fleet.url, "--prefix", fleet.prefix];
    const byParent = await cli(["status", "--parent", runId, "--json", ...flags]);
    expect(byParent.code, byParent.stderr).toBe(0);
    expect((JSON.parse(byParent.stdout) as { runId: string }[]).map((r) => r.runId).sort()).toEqual([...children.values()].sort());
    const shown = await cli(["status", runId, ...flags]);
    expect(shown.code, shown.stderr).toBe(0);
    for (const child of children.values()) expect(shown.stdout).toContain(child);
    const childShown = await cli(["status", children.get("one")!, ...flags]);
    expect(childShown.stdout).toContain(`parent: run ${runId} (node main/one`);
    const out = join(mkdtempSync(join(tmpdir(), "phaseflow-kids-")), "family.json");
    const exported = await cli(["export", runId, "--out", out, ...flags]);
    expect(exported.code, exported.stderr).toBe(0);
    expect((JSON.parse(readFileSync(out, "utf8")) as { children: string[] }).children.sort()).toEqual([...children.values()].sort());
  }, 150_000);

  it("faults - cancelling a parent cancels its running child", async () => {
    await up();
    const { runId } = await fleet.client.start("family", { base: 1, ms: 60_000 });
    const started = await waitForEvent(fleet.client, runId, (e) => e.type === "task.waiting" && e.task === "one");
    const childId = (started as { wait: { runId: string } }).wait.runId;
    await waitForEvent(fleet.client, childId, (e) => e.type === "task.dispatched");
    const before = Date.now();
    await fleet.client.cancel(runId, "enough");
    const ended = await waitForEvent(fleet.client, childId, (e) => e.type === "run.cancelled");
    expect(ended.type).toBe("run.cancelled");
    // Generous slack for a loaded machine (the cascade is two API requests).
    expect(Date.now() - before).toBeLessThan(20_000);
    expect((await fleet.finish(runId)).record.status).toBe("cancelled");
    expect((await fleet.client.get(childId)).status).toBe("cancelled");
  }, 150_000);

  it("faults - a retried child node starts a new child run per attempt; a child of a workflow no coordinator serves fails its node clearly", async () => {
    await up();
    const { runId } = await fleet.client.start("calls-broken", {});
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("failed");
    const sub = record.tasks.find((t) => t.task === "sub")!;
    expect(sub.error).toMatchObject({ code: "CHILD_FAILED" });
    expect(sub.attempts).toBe(2);
    const asked = (await fleet.history(runId)).filter((e) => e.type === "task.waiting").map((e) => (e as { wait: { runId: string } }).wait.runId);
    expect(asked).toEqual([1, 2].map((attempt) => childRunIdOf(runId, "main", 1, "sub", attempt)));
    const listed = await fleet.client.list({ parent: runId });
    expect(listed.map((r) => [r.runId, r.status]).sort()).toEqual(asked.map((id) => [id, "failed"]).sort());

    const nobody = await fleet.client.start("calls-nobody", {});
    const ended = (await fleet.finish(nobody.runId)).record;
    expect(ended.status).toBe("failed");
    expect(ended.tasks[0]?.error?.message).toContain("CHILD_WORKFLOW_UNKNOWN");
    expect(ended.tasks[0]?.error?.message).toContain('"nobody"');
    expect(ended.tasks[0]?.attempts).toBe(1);
  }, 150_000);

  it("faults - kill -9 of the parent's coordinator while its children run: the other takes it over, no child starts twice, the parent finishes", async () => {
    await up();
    const { runId } = await fleet.client.start("family", { base: 3, ms: 4000 });
    const waiting = await waitForEvent(fleet.client, runId, (e) => e.type === "task.waiting" && e.task === "one");
    const childId = (waiting as { wait: { runId: string } }).wait.runId;
    await waitForEvent(fleet.client, childId, (e) => e.type === "task.dispatched");
    const stored = await fleet.client.transport.buckets.runs.get(`run.${runId}`);
    const holder = (JSON.parse(new TextDecoder().decode(stored!.value)) as { coordinator: string }).coordinator;
    const [a, b] = coordinators as [PhaseflowProcess, PhaseflowProcess];
    const [victim, survivor] = holder.startsWith("k-a~") ? [a, b] : [b, a];
    victim.kill("SIGKILL");
    await victim.exited;
    await tookOver(survivor, runId);
    const { record } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.output).toEqual({ one: 6, each: [8, 10, 12], total: 36 });
    const children = childrenOf(record);
    expect(children.size).toBe(4);
    // Exactly the 4 children exist, each started once and run to one success per task.
    const listed = await fleet.client.list({ parent: runId });
    expect(listed.map((r) => r.runId).sort()).toEqual([...children.values()].sort());
    for (const child of children.values()) {
      const events = historyEvents((await fleet.client.transport.readHistory(child)).messages);
      expect(events.filter((e) => e.type === "run.started"), child).toHaveLength(1);
      expectOneSucceededPerTask(events, await fleet.foldedRecord(child));
    }
    // The parent took each child's end once (the first stored), and asked for no other child.
    const parentEvents = await fleet.history(runId);
    const waited = parentEvents.filter((e) => e.type === "task.waiting").map((e) => (e as { wait: { runId: string } }).wait.runId);
    expect(new Set(waited)).toEqual(new Set(children.values()));
  }, 180_000);
});

describe("faults - a child's end lost between the child's history and its parent", () => {
  // The parent's coordinator serves the parent only; the child's serves the child only and
  // kills itself (SIGKILL, by the gated fault knob) right after storing the child's end in
  // the child's history, before storing it on the parent. Nobody else serves the child, so
  // only the parent's coordinator checking on its child can end the parent.
  const fleet = useFleet("fkidsend", {});

  it("faults - the parent's coordinator finds the end in the child's history and the parent finishes, the end folded once", async () => {
    const parentCoordinator = await fleet.coordinatorOf(["tests/fixtures/children/awaits-enrich.ts"], [...COORDINATOR, "--id", "kp", "--child-check-ms", "1000"]);
    const childCoordinator = await startCoordinatorProcess(fleet.url, fleet.prefix, ["tests/fixtures/children/enrich-only.ts"], [...COORDINATOR, "--id", "kc"], { ...fleet.env, PHASEFLOW_FAULT_KILL_BEFORE_CHILD_END: "1" });
    fleet.processes.push(childCoordinator);
    fleet.processes.push(await startWorkerProcess(fleet.url, fleet.prefix, [EXECUTORS], ["--id", "kw2", "--ack-wait", "2000"], fleet.env));

    const { runId } = await fleet.client.start("awaits-enrich", { n: 21 });
    const died = await childCoordinator.exited;
    expect(died.signal).toBe("SIGKILL");
    const childId = childRunIdOf(runId, "main", 1, "sub", 1);
    // The window: the child's end is in its own history, and not on its parent.
    const child = await fleet.foldedRecord(childId);
    expect(child.status).toBe("succeeded");
    await parentCoordinator.waitForLog((l) => l.child === childId && typeof l.msg === "string" && l.msg.includes("storing it on the parent now"), 60_000);

    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.output).toEqual({ id: "sub", doubled: 42 });
    expect(events.filter((e) => e.type === "task.waited")).toHaveLength(1);
    expect(events.filter((e) => e.type === "child.ended" && e.child === childId).length).toBeGreaterThanOrEqual(1);
  }, 150_000);
});
