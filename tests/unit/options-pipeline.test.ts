/**
 * One options pipeline: every component's options are parsed by `parseOptions` with one
 * issue mapping (`toSchemaIssues`) into one error class (`OptionsError`, OPTIONS_INVALID)
 * naming each bad field; a run's start (options and input) is resolved once.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { createEngine } from "../../src/embedded/engine.js";
import { InputValidationError } from "../../src/errors/base.js";
import { OptionsError } from "../../src/errors/options.js";
import { createRegistry } from "../../src/registry/registry.js";
import { formatIssues, toSchemaIssues } from "../../src/support/schema-issues.js";
import { parseOptions } from "../../src/support/options.js";
import { resolveRunStart } from "../../src/support/run-options.js";
import { createMemoryTransport } from "../../src/transport/memory/hub.js";
import { resolveNatsTransportOptions } from "../../src/transport/nats/options.js";
import { resolveUiServerOptions } from "../../src/ui/ui-options.js";
import { resolveWorkerOptions } from "../../src/worker/options.js";
import { testEngine } from "../support/runtime-fixtures.js";

/** The error `fn` throws. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("nothing was thrown");
}

describe("options - one pipeline", () => {
  it("options - zod issues map to plain schema issues one way, and read on one line", () => {
    const parsed = z.object({ a: z.object({ b: z.number() }), c: z.string() }).safeParse({ a: { b: "x" }, c: 1 });
    expect(parsed.success).toBe(false);
    const issues = toSchemaIssues(parsed.error!.issues);
    expect(issues.map((i) => i.path)).toEqual([["a", "b"], ["c"]]);
    expect(toSchemaIssues([{ path: [Symbol("s"), 0], message: "m" }])).toEqual([{ path: ["Symbol(s)", 0], message: "m" }]);
    expect(formatIssues([{ path: ["a", "b"], message: "bad" }, { path: [], message: "whole" }], "(options)")).toBe("a.b: bad; (options): whole");
  });

  it("options - parseOptions fills defaults, and a bad option is an OptionsError naming its field", () => {
    const schema = z.object({ n: z.number().int().min(1).default(4) }).strict();
    expect(parseOptions(schema, {}, "x options")).toEqual({ n: 4 });
    const err = thrown(() => parseOptions(schema, { n: 0, extra: 1 }, "x options"));
    expect(err).toBeInstanceOf(OptionsError);
    expect(err).toMatchObject({ code: "OPTIONS_INVALID", subject: "x options", retryable: false });
    expect((err as OptionsError).message).toMatch(/^x options are invalid: n: .*; \(options\): .*extra/);
  });

  it("options - every component's bad options are the one OptionsError", async () => {
    const registry = createRegistry();
    const cases: [string, () => unknown][] = [
      ["createEngine options", () => createEngine({ registry, concurrency: 0 })],
      ["createWorker options", () => resolveWorkerOptions({ transport: createMemoryTransport(), registry, concurrency: 0 })],
      ["NATS transport options", () => resolveNatsTransportOptions({ servers: "nats://127.0.0.1:4222", replicas: 7 })],
      ["web view options", () => resolveUiServerOptions({ port: -1 })],
      ["memory hub options", () => createMemoryTransport({ maxPayload: -5 })],
      ["run options", () => resolveRunStart(workflow("w", { version: "1" }), {}, { schedule: "sometimes" })],
    ];
    for (const [subject, fn] of cases) {
      const err = thrown(fn);
      expect(err, subject).toBeInstanceOf(OptionsError);
      expect((err as OptionsError).subject).toBe(subject);
      expect((err as OptionsError).issues.length).toBeGreaterThan(0);
    }
    const t = testEngine();
    try {
      await expect(t.engine.run(workflow("w2", { version: "1" }), {}, { seed: -1 })).rejects.toMatchObject({ code: "OPTIONS_INVALID", subject: "engine.run options" });
    } finally {
      await t.close();
    }
  });

  it("options - a run's start is resolved once: the engine starts what was resolved without parsing it again", async () => {
    const wf = workflow("once", { version: "1", input: z.object({ n: z.number() }).transform((v) => ({ n: v.n + 1 })) });
    wf.state("s").task("a", { executor: "o/a" });
    expect(() => resolveRunStart(wf, { n: "x" })).toThrow(InputValidationError);
    const start = resolveRunStart(wf, { n: 1 }, { schedule: "eager" });
    expect(start).toEqual({ input: { n: 2 }, options: { schedule: "eager", onFailure: "fail-fast" } });
    const t = testEngine();
    t.registry.namespace("o").register("a", (input: { n: number }) => input);
    try {
      // A second parse would add 1 again.
      const record = await (await t.engine.start(wf, start)).result();
      expect(record).toMatchObject({ status: "succeeded", input: { n: 2 }, output: { n: 2 } });
      const viaRun = await (await t.engine.run(wf, { n: 1 })).result();
      expect(viaRun.input).toEqual({ n: 2 });
    } finally {
      await t.close();
    }
  });
});
