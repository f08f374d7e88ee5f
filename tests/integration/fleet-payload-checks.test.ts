// On a fleet a state's output or a signal's payload over inlineBytes travels as a payload
// reference; the coordinator checks it against its schema on its value all the same, so a
// big value fails (or passes) exactly as a small one does, and as embedded
// (tests/unit/payload-checks.test.ts runs the same cases embedded).
import { describe, expect, it } from "vitest";
import { SchemaValidationError } from "../../src/errors/base.js";
import { WIRE_VERSION } from "../../src/transport/messages.js";
import { isPayloadRef } from "../../src/transport/payloads.js";
import { startWorkerProcess } from "../support/processes.js";
import { COORDINATOR, useFleet } from "../faults/support.js";

const WORKFLOWS = "tests/fixtures/payloads/workflows.ts";
const EXECUTORS = "tests/fixtures/payloads/executors.ts";
const BIG = 300_000;

describe("fleet - schemas of state outputs and signal payloads over inlineBytes", () => {
  const fleet = useFleet("fpaycheck", {});
  let up = false;
  const start = async (): Promise<void> => {
    if (up) return;
    up = true;
    await fleet.coordinatorOf([WORKFLOWS], [...COORDINATOR, "--id", "pc"]);
    fleet.processes.push(await startWorkerProcess(fleet.url, fleet.prefix, [EXECUTORS], ["--id", "pcw", "--concurrency", "4"], fleet.env));
  };

  for (const pad of [10, BIG]) {
    it(`fleet - a state output of ${pad} bytes that fails its schema fails the run with STATE_OUTPUT_INVALID`, async () => {
      await start();
      const { runId } = await fleet.client.start("big-checks", { pad, ok: false });
      const { record } = await fleet.finish(runId);
      expect(record.status).toBe("failed");
      expect(record.error).toMatchObject({ code: "STATE_OUTPUT_INVALID", message: 'output of state "make" is invalid:\n  - ok: Invalid input: expected true' });
      if (pad === BIG) expect(isPayloadRef(record.tasks.find((t) => t.task === "blob")?.output)).toBe(true);
    }, 120_000);

    it(`fleet - a signal payload of ${pad} bytes that fails its schema is refused with SIGNAL_PAYLOAD_INVALID; a valid one is taken`, async () => {
      await start();
      const { runId } = await fleet.client.start("big-checks", { pad: BIG, ok: true });
      const err = await fleet.client.signal(runId, "go", { ok: false, pad: "s".repeat(pad) }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(SchemaValidationError);
      expect(err).toMatchObject({ code: "SIGNAL_PAYLOAD_INVALID", message: `payload of signal "go" for run "${runId}" is invalid:\n  - ok: Invalid input: expected true` });
      await fleet.client.signal(runId, "go", { ok: true, pad: "s".repeat(pad) });
      const { record, events } = await fleet.finish(runId);
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expect(record.output).toEqual({ ok: true, padLength: pad });
      // The big state output passed its schema as the reference it is: the history stays small.
      const exited = events.find((e) => e.type === "state.exited" && e.state === "make") as { output: unknown } | undefined;
      expect(isPayloadRef(exited?.output)).toBe(true);
      if (pad === BIG) expect(isPayloadRef(record.tasks.find((t) => t.task === "go")?.output)).toBe(true);
    }, 120_000);
  }

  it("fleet - a big signal stored past the sender's check (a raw publish) that fails its schema is left alone; a valid one is taken", async () => {
    await start();
    const t = fleet.client.transport;
    const { runId } = await fleet.client.start("big-checks", { pad: 10, ok: true });
    const raw = async (id: string, ok: boolean): Promise<void> => {
      const payload = await t.payloads.reference(runId, { ok, pad: "r".repeat(BIG) }, "a raw signal");
      expect(isPayloadRef(payload)).toBe(true);
      await t.appendSignal({ v: WIRE_VERSION, kind: "signal", type: "signal.received", runId, at: Date.now(), name: "go", id, payload });
    };
    await raw("raw-bad", false);
    await raw("raw-good", true);
    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.output).toEqual({ ok: true, padLength: BIG });
    // The node took the second signal stored (seq order), not the first.
    const waited = events.filter((e) => e.type === "task.waited");
    expect(waited).toHaveLength(1);
  }, 120_000);
});
