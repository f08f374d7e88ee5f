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
});
