// The coordinator reads payload references where it decides (README "Payloads of any size"):
// a map over a list over inlineBytes runs one instance per item, a guard on a state output
// over inlineBytes and a route whose router's output is over inlineBytes take the right
// branch, on a fleet (where those values travel as references) exactly as embedded.
import { describe, expect, it } from "vitest";
import { createEngine } from "../../src/embedded/engine.js";
import { isPayloadMerge, isPayloadRef } from "../../src/transport/payloads.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { startWorkerProcess } from "../support/processes.js";
import { registry } from "../fixtures/payloads/executors.js";
import { bigDecide } from "../fixtures/payloads/workflows.js";
import { COORDINATOR, useFleet } from "../faults/support.js";

const WORKFLOWS = "tests/fixtures/payloads/workflows.ts";
const EXECUTORS = "tests/fixtures/payloads/executors.ts";
const ITEM = 8000;

const task = (record: RunRecord, state: string, name: string) => record.tasks.find((t) => t.state === state && t.task === name);

describe("fleet - the coordinator decides on values over inlineBytes", () => {
  const fleet = useFleet("fpaydecide", {});
  let up = false;
  const start = async (): Promise<void> => {
    if (up) return;
    up = true;
    await fleet.coordinatorOf([WORKFLOWS], [...COORDINATOR, "--id", "pd"]);
    fleet.processes.push(await startWorkerProcess(fleet.url, fleet.prefix, [EXECUTORS], ["--id", "pdw", "--concurrency", "8"], fleet.env));
  };

  const cases = [
    { input: { n: 40, flag: true }, states: ["build", "flagged", "left"] },
    { input: { n: 41, flag: true }, states: ["build", "flagged", "right"] },
    { input: { n: 41, flag: false }, states: ["build", "plain"] },
  ];

  for (const { input, states } of cases) {
    it(`fleet - map, guard and route over big values: ${JSON.stringify(input)} goes ${states.join(" -> ")}, as embedded`, async () => {
      await start();
      const engine = createEngine({ registry });
      let embedded: RunRecord;
      try {
        embedded = await (await engine.run(bigDecide, input)).result();
      } finally {
        await engine.close();
      }
      expect(embedded.status, JSON.stringify(embedded.error)).toBe("succeeded");
      const side = states[states.length - 1];
      const total = Array.from({ length: input.n }, (_, k) => `${k}:`.length + ITEM).reduce((a, b) => a + b, 0);
      expect(embedded.output).toEqual({ side, count: input.n, total });

      const { runId } = await fleet.client.start("big-decide", input);
      const { record, events } = await fleet.finish(runId);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expect(record.output).toEqual(embedded.output);
      expect(record.states.map((s) => s.name)).toEqual(states);
      // The values were references on the fleet: the list the map went over, the output the guard read, the router's output.
      expect(isPayloadRef(task(record, "build", "list")?.output)).toBe(true);
      expect(isPayloadRef(task(record, "build", "tag")?.output)).toBe(true);
      const exited = events.find((e) => e.type === "state.exited" && e.state === "build") as { output: unknown } | undefined;
      expect(isPayloadRef(exited?.output) || isPayloadMerge(exited?.output)).toBe(true);
      if (states.includes("flagged")) expect(isPayloadRef(task(record, "flagged", "router")?.output)).toBe(true);
      // One instance per item, each run once.
      expect(task(record, "build", "each")?.instances).toMatchObject({ count: input.n, succeeded: input.n });
      expect(events.filter((e) => e.type === "map.items").reduce((a, e) => a + (e as { items: unknown[] }).items.length, 0)).toBe(input.n);
    }, 150_000);
  }

  it("fleet - a keyed start answered with the run its key started before releases the input payload it stored", async () => {
    await start();
    const t = fleet.client.transport;
    const input = { n: 2, flag: false, pad: "q".repeat(300_000) };
    const key = `dup-${Date.now()}`;
    const first = await fleet.client.start("big-decide", input, { key });
    const second = await fleet.client.start("big-decide", input, { key });
    expect(second).toMatchObject({ runId: first.runId, existing: true });
    const ref = await t.payloads.reference("probe", input, "probe");
    await t.payloads.release("probe");
    expect(isPayloadRef(ref)).toBe(true);
    // Held by the run the key started, and by no run id that never existed.
    const object = (await t.payloads.list()).find((p) => isPayloadRef(ref) && p.id === ref.$pfref);
    expect(object?.runs).toEqual([first.runId]);
    expect((await fleet.finish(first.runId)).record.status).toBe("succeeded");
  }, 60_000);

  it("fleet - chunks of an upload cut short (its uploader died mid-put) are swept; stored payloads and an upload still writing stay", async () => {
    const t = fleet.client.transport;
    const stored = await t.payloads.reference("orphan-sweep", { blob: "k".repeat(300_000) }, "a kept payload");
    expect(isPayloadRef(stored)).toBe(true);
    // What a putBlob killed after its first chunks leaves: chunks under a nuid no object's metadata names.
    const bucket = `${t.names.prefix}_payloads`;
    const stream = `OBJ_${bucket}`;
    const orphan = `$O.${bucket}.C.deadupload${Date.now()}`;
    for (let i = 0; i < 3; i++) await t.js.publish(orphan, new Uint8Array(1024).fill(i));
    const subjects = async (): Promise<string[]> => Object.keys((await t.jsm.streams.info(stream, { subjects_filter: `$O.${bucket}.C.>` })).state.subjects ?? {});
    expect(await subjects()).toContain(orphan);

    // Retention and prune sweep with a grace of minutes: a fresh upload (maybe still writing) is left alone.
    await fleet.client.prune(7 * 86_400_000);
    expect(await subjects()).toContain(orphan);
    // Past the grace (0 here), the orphan's chunks go; the stored payload keeps its chunks and resolves.
    expect(await t.payloads.sweepIncomplete(0)).toBe(1);
    expect(await subjects()).not.toContain(orphan);
    expect(((await t.payloads.resolve(stored)) as { blob: string }).blob).toHaveLength(300_000);
    expect(await t.payloads.sweepIncomplete(0)).toBe(0);
  }, 60_000);
});
