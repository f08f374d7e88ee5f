/**
 * One RunSummary shape (runtime/core/run-record-schema.ts): what a fold's summary gives,
 * what the KV keeps, and what a run list (fleet or embedded) sends, parsed by one schema.
 */
import { describe, expect, it } from "vitest";
import { listRunsReplySchema } from "../../src/fleet/api-schemas.js";
import { serializeError } from "../../src/errors/serialize.js";
import { runSummarySchema } from "../../src/runtime/core/run-record-schema.js";
import { reduceRunEvents, summaryFieldsOf, summaryOf } from "../../src/runtime/core/run-record.js";
import type { RunEvent } from "../../src/transport/messages.js";

const runId = "run_1";
const history: RunEvent[] = [
  { runId, at: 1, type: "run.started", workflow: "w", version: "2", planHash: "h", input: {}, options: { schedule: "phases", onFailure: "fail-fast" } },
  { runId, at: 2, type: "state.entered", state: "s", visit: 1, input: {} },
  { runId, at: 3, type: "task.dispatched", state: "s", visit: 1, task: "a", attempt: 1, dispatchId: "d1", executor: "t/a", deadline: null, tokenHash: "x", judged: false },
  { runId, at: 4, type: "run.failed", error: serializeError(new Error("boom")) },
];

describe("run summary - one shape", () => {
  it("run summary - a fold's summary is the shape, and a list entry is its fields without the error", () => {
    const summary = summaryOf({ record: reduceRunEvents(history), compact: undefined });
    expect(runSummarySchema.parse(summary)).toEqual(summary);
    expect(summary).toMatchObject({ runId, workflow: "w", version: "2", planHash: "h", status: "failed", tasks: { total: 1, succeeded: 0, failed: 0, running: 1 } });
    expect(summary.error?.message).toBe("boom");
    // A fleet's stored run holds more (a lease, an owner): a list sends only the summary's fields.
    const stored = { ...summary, coordinator: "c1", leaseUntil: 9, updatedAt: 5, cancelRequested: "stop" };
    const entry = summaryFieldsOf(stored, { error: false });
    const { error: _error, ...withoutError } = summary;
    expect(entry).toEqual(withoutError);
    const reply = listRunsReplySchema.parse(JSON.parse(JSON.stringify({ ok: true, runs: [entry] })));
    expect(reply.ok && reply.runs[0]).toEqual(entry);
  });

  it("run summary - a list entry of an earlier coordinator (no plan hash, running count or version) reads as the same shape", () => {
    const reply = listRunsReplySchema.parse({ ok: true, runs: [{ runId, workflow: "w", status: "running", tasks: { total: 2, succeeded: 1, failed: 0 } }] });
    expect(reply.ok && reply.runs[0]).toEqual({ runId, workflow: "w", version: "", planHash: "", status: "running", tasks: { total: 2, succeeded: 1, failed: 0, running: 0 } });
  });
});
