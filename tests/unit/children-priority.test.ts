// Children inherit their parent's priority (README "Traffic control"): a parent run at
// priority 1 starts its children (a child node and a map's instances) at priority 1; a
// parent at the default leaves each child its own workflow's default priority.
import { afterEach, describe, expect, it } from "vitest";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { workflow, z } from "../../src/index.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import { createMemoryHub, type MemoryHub } from "../../src/transport/memory/index.js";
import { registry } from "../fixtures/children/executors.js";
import { enrich } from "../fixtures/children/workflows.js";

const urgentChild = workflow("urgent-enrich", { version: "1", priority: 2, input: z.object({ id: z.string(), n: z.number(), ms: z.number().int().default(0) }) });
urgentChild.state("work").task("double", { executor: "children/double" });

const parent = workflow("prio-parent", { version: "1" });
{
  const s = parent.state("main");
  s.child("one", { workflow: enrich, input: () => ({ id: "one", n: 1, ms: 0 }) });
  s.map("each", { workflow: enrich, items: () => [{ id: "a", n: 1, ms: 0 }, { id: "b", n: 2, ms: 0 }] });
  s.child("own", { workflow: urgentChild, input: () => ({ id: "own", n: 3, ms: 0 }) });
}

let hub: MemoryHub | undefined;
const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  await hub?.close();
  hub = undefined;
});

async function childPriorities(priority: number | undefined): Promise<Record<string, number | undefined>> {
  hub = createMemoryHub();
  const e = createEngine({ registry, transport: hub.connect(), worker: true });
  engines.push(e);
  const record = await (await e.run(parent, {}, priority === undefined ? {} : { priority })).result();
  expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
  const out: Record<string, number | undefined> = {};
  for (const t of record.tasks) {
    if (t.child === undefined) continue;
    out[t.task] = recordOfHistory((await hub.connect().readHistory(t.child)).messages).options?.priority;
  }
  return out;
}

describe("children - priority", () => {
  it("children - a parent at priority 1 starts every child at priority 1", async () => {
    expect(await childPriorities(1)).toEqual({ one: 1, "each[0]": 1, "each[1]": 1, own: 1 });
  });

  it("children - a parent at the default priority leaves each child its workflow's default", async () => {
    expect(await childPriorities(undefined)).toEqual({ one: undefined, "each[0]": undefined, "each[1]": undefined, own: 2 });
  });
});
