// Child workflows embedded (DESIGN §10): a child node and a map over child runs start real
// runs (own history and record, naming their parent) whose ends reach the parent through
// its history; failures, retries (a new child run each), the depth bound, an unknown
// workflow, cancel of a parent, and a parent resumed after its coordinator died.
import { afterEach, describe, expect, it } from "vitest";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { createMemoryHub, type MemoryHub } from "../../src/transport/memory/index.js";
import { childRunIdOf } from "../../src/runtime/core/children.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { registry } from "../fixtures/children/executors.js";
import { broken, callsBroken, callsNobody, callsWaiter, family, recurse } from "../fixtures/children/workflows.js";

let hub: MemoryHub;
const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  await hub.close();
});

function engine(extra: Partial<Parameters<typeof createEngine>[0]> = {}): Engine {
  hub ??= createMemoryHub();
  const e = createEngine({ registry, transport: hub.connect(), worker: true, ...extra });
  engines.push(e);
  return e;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, get: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The family's output for base b: one = 2b, each = 2(b+1), 2(b+2), 2(b+3). */
export const familyOutput = (b: number) => ({ one: 2 * b, each: [2 * (b + 1), 2 * (b + 2), 2 * (b + 3)], total: 2 * b + 2 * (3 * b + 6) });

describe("children - embedded", () => {
  it("children - a child node and a map over 3 child runs succeed with the children's outputs; records link parent and children", async () => {
    hub = createMemoryHub();
    const e = engine();
    const run = await e.run(family, { base: 10, ms: 0 });
    const record = await run.result();
    expect(record.status).toBe("succeeded");
    expect(record.output).toEqual(familyOutput(10));
    const one = record.tasks.find((t) => t.task === "one")!;
    expect(one.child).toBe(childRunIdOf(run.runId, "main", 1, "one", 1));
    expect(one.output).toEqual({ id: "one", doubled: 20 });
    const instances = record.tasks.filter((t) => t.map === "each");
    expect(instances.map((t) => t.child)).toEqual([0, 1, 2].map((k) => childRunIdOf(run.runId, "main", 1, `each[${k}]`, 1)));
    // Each child is a real run with its own history, naming its parent.
    for (const t of [one, ...instances]) {
      const child = recordOfHistory((await hub.connect().readHistory(t.child!)).messages);
      expect(child.workflow).toBe("enrich");
      expect(child.status).toBe("succeeded");
      expect(child.parent).toMatchObject({ runId: run.runId, state: "main", task: t.task, attempt: 1, depth: 1 });
      expect(child.output).toEqual(t.output);
    }
    // The children's ends are stored on the parent's report subject, once each.
    const ends = historyEvents((await hub.connect().readHistory(run.runId)).messages).filter((x) => x.type === "child.ended");
    expect(ends.map((x) => x.child).sort()).toEqual([one.child, ...instances.map((t) => t.child)].sort());
  });

  it("children - a failed child fails its node with CHILD_FAILED; a retry of the node starts a new child run", async () => {
    hub = createMemoryHub();
    const e = engine();
    const run = await e.run(callsBroken, {});
    const record = await run.result();
    expect(record.status).toBe("failed");
    expect(record.error?.code).toBe("TASK_FAILED");
    const sub = record.tasks.find((t) => t.task === "sub")!;
    expect(sub.attempts).toBe(2);
    expect(sub.error).toMatchObject({ code: "CHILD_FAILED" });
    expect(sub.error?.message).toContain("the child broke");
    const ids = [1, 2].map((a) => childRunIdOf(run.runId, "main", 1, "sub", a));
    expect(sub.child).toBe(ids[1]);
    for (const id of ids) {
      const child = recordOfHistory((await hub.connect().readHistory(id)).messages);
      expect(child.status).toBe("failed");
      expect(child.workflow).toBe(broken.name);
    }
  });

  it("children - depth is bounded at 10: a workflow calling itself fails with CHILD_DEPTH_EXCEEDED at the deepest child", async () => {
    hub = createMemoryHub();
    const e = engine();
    const run = await e.run(recurse, {});
    const record = await run.result();
    expect(record.status).toBe("failed");
    // The failure travels up: each level's node fails with CHILD_FAILED naming its child's error.
    expect(record.error?.message).toContain("CHILD_DEPTH_EXCEEDED");
    let id = run.runId;
    for (let depth = 1; depth <= 10; depth++) {
      id = childRunIdOf(id, "main", 1, "again", 1);
      const child = recordOfHistory((await hub.connect().readHistory(id)).messages);
      expect(child.parent?.depth).toBe(depth);
    }
    const deepest = recordOfHistory((await hub.connect().readHistory(id)).messages);
    expect(deepest.tasks[0]?.error).toMatchObject({ code: "CHILD_DEPTH_EXCEEDED" });
    expect((await hub.connect().readHistory(childRunIdOf(id, "main", 1, "again", 1))).messages).toEqual([]);
  });

  it("children - a child of a workflow the engine does not know fails its node with CHILD_WORKFLOW_UNKNOWN, and one given by name runs", async () => {
    hub = createMemoryHub();
    const e = engine();
    const record = await (await e.run(callsNobody, {})).result();
    expect(record.status).toBe("failed");
    expect(record.tasks[0]?.error?.message).toContain("CHILD_WORKFLOW_UNKNOWN");
    expect(record.tasks[0]?.attempts).toBe(1);
  });

  it("children - cancelling a parent cancels its running child", async () => {
    hub = createMemoryHub();
    const e = engine();
    const run = await e.run(callsWaiter, {});
    const childId = childRunIdOf(run.runId, "main", 1, "sub", 1);
    await until("the child waiting", () => e.get(childId)?.tasks.some((t) => t.status === "running"));
    const t0 = Date.now();
    await e.cancel(run.runId, "enough");
    const child = await until("the child cancelled", () => (e.get(childId)?.status === "cancelled" ? e.get(childId) : undefined));
    const ms = Date.now() - t0;
    expect(child.reason).toContain("enough");
    // Generous slack for a loaded machine: the cancel is one in-process call.
    expect(ms).toBeLessThan(10_000);
    expect((await run.result()).status).toBe("cancelled");
  });

  it("children - a parent resumed by another engine after its own died keeps waiting for the same child and finishes; no child starts twice", async () => {
    hub = createMemoryHub();
    const a = engine();
    const run = await a.run(family, { base: 1, ms: 300 });
    // Let the children start, then drop engine a (its runs, children included, stop being driven).
    await until("children running", () => [0, 1].every((k) => a.get(childRunIdOf(run.runId, "main", 1, `each[${k}]`, 1))?.status === "running"));
    await a.close();
    engines.splice(engines.indexOf(a), 1);
    const b = engine();
    const reader = hub.connect();
    // Only the parent is resumed (as a fleet's takeover would): it asks again for the children it waits for,
    // which starts none twice (idempotent by id) and carries on those left unfinished.
    const ids = [run.runId, childRunIdOf(run.runId, "main", 1, "one", 1), ...[0, 1, 2].map((k) => childRunIdOf(run.runId, "main", 1, `each[${k}]`, 1))];
    const handles = [await b.resume(family, (await reader.readHistory(run.runId)).messages)];
    const parent = await handles[0]!.result();
    expect(parent.status).toBe("succeeded");
    expect(parent.output).toEqual(familyOutput(1));
    // Every child run started once: one run.started per child history.
    for (const id of ids) {
      const started = historyEvents((await reader.readHistory(id)).messages).filter((x) => x.type === "run.started");
      expect(started).toHaveLength(1);
    }
  });

  it("children - an engine created with childRuns: false fails a child node with CHILD_START_FAILED instead of waiting", async () => {
    hub = createMemoryHub();
    const e = engine({ childRuns: false });
    const record = await (await e.run(callsWaiter, {})).result();
    expect(record.status).toBe("failed");
    expect(record.tasks[0]?.error?.message).toContain("CHILD_START_FAILED");
  });

  it("children - embedded output equals the family output for any base", async () => {
    hub = createMemoryHub();
    const e = engine();
    const records: RunRecord[] = [];
    for (const base of [0, 5]) records.push(await (await e.run(family, { base, ms: 0 })).result());
    expect(records.map((r) => r.output)).toEqual([familyOutput(0), familyOutput(5)]);
  });
});
