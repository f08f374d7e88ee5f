// Values no worker opens — a state's output, a signal's payload — are checked by the
// coordinator against their schemas. Embedded, a big value is a value like any other; the
// fleet test (tests/integration/fleet-payload-checks.test.ts) runs the same cases where it
// travels as a payload reference, and expects the same errors.
import { describe, expect, it } from "vitest";
import { createEngine } from "../../src/embedded/engine.js";
import { SchemaValidationError } from "../../src/errors/base.js";
import { bigChecks } from "../fixtures/payloads/workflows.js";
import { registry } from "../fixtures/payloads/executors.js";

const BIG = 300_000;

describe("embedded - schemas of state outputs and signal payloads, small and big", () => {
  for (const pad of [10, BIG]) {
    it(`embedded - a state output of ${pad} bytes that fails its schema fails the run with STATE_OUTPUT_INVALID`, async () => {
      const engine = createEngine({ registry });
      try {
        const record = await (await engine.run(bigChecks, { pad, ok: false })).result();
        expect(record.status).toBe("failed");
        expect(record.error).toMatchObject({ code: "STATE_OUTPUT_INVALID", message: 'output of state "make" is invalid:\n  - ok: Invalid input: expected true' });
      } finally {
        await engine.close();
      }
    });

    it(`embedded - a signal payload of ${pad} bytes that fails its schema is refused with SIGNAL_PAYLOAD_INVALID; a valid one is taken`, async () => {
      const engine = createEngine({ registry });
      try {
        const handle = await engine.run(bigChecks, { pad: 10, ok: true });
        const runId = handle.runId;
        const err = await engine.signal(runId, "go", { ok: false, pad: "s".repeat(pad) }).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(SchemaValidationError);
        expect(err).toMatchObject({ code: "SIGNAL_PAYLOAD_INVALID", message: `payload of signal "go" for run "${runId}" is invalid:\n  - ok: Invalid input: expected true` });
        await engine.signal(runId, "go", { ok: true, pad: "s".repeat(pad) });
        const record = await handle.result();
        expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
        expect(record.output).toEqual({ ok: true, padLength: pad });
      } finally {
        await engine.close();
      }
    });
  }
});
