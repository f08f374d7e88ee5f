// Embedded runs refuse what a fleet would: a task whose output or input (its parents'
// outputs) is over the payload limit, not JSON or nested too deep fails with the
// fleet's error naming the task; the limit is an engine option, and can be turned off.
// Also: parents' outputs travel once, so the limit applies to them, not to twice them.
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { createEngine, type Engine, type EngineOptions } from "../../src/embedded/engine.js";
import { createRegistry } from "../../src/registry/registry.js";
import { PayloadNotJsonError, PayloadTooDeepError, RunInputTooLargeError } from "../../src/errors/base.js";
import { exitCodeFor } from "../../src/cli/exit-codes.js";
import { toJsonText } from "../../src/transport/json.js";
import { rebuildsFromParents } from "../../src/runtime/core/dataflow.js";

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.close();
  engine = undefined;
});

function setup(options: Omit<EngineOptions, "registry"> = {}) {
  const registry = createRegistry();
  registry
    .namespace("t")
    .register("big", (input: { bytes: number }) => ({ blob: "x".repeat(input.bytes) }))
    .register("bigint", () => ({ n: 1n }))
    .register("deep", () => {
      let v: unknown = 1;
      for (let i = 0; i < 200; i++) v = [v];
      return v;
    })
    .register("abyss", () => {
      // Deep enough that JSON.stringify overflows the stack: still "too deep", not "not JSON".
      let v: unknown = 1;
      for (let i = 0; i < 10_000; i++) v = [v];
      return v;
    })
    .register("echo", (input: unknown) => ({ got: typeof input, ...(typeof (input as { blob?: unknown })?.blob === "string" ? { length: (input as { blob: string }).blob.length } : {}) }));
  engine = createEngine({ registry, ...options });
  return engine;
}

const single = (executor: `${string}/${string}`) => {
  const wf = workflow(`one-${executor.replace("/", "-")}`, { version: "1", input: z.object({ bytes: z.number().int() }) });
  wf.state("s").task("a", { executor });
  return wf;
};

const pair = () => {
  const wf = workflow("pair", { version: "1", input: z.object({ bytes: z.number().int() }) });
  const s = wf.state("s");
  s.task("after", { executor: "t/echo" }).dependsOn(s.task("b1", { executor: "t/big" }), s.task("b2", { executor: "t/big" }));
  return wf;
};

describe("embedded payload limits", () => {
  it("an output over maxPayload (here 1 MiB) fails its task with PAYLOAD_TOO_LARGE naming it and the option, as on NATS", async () => {
    const record = await (await setup({ maxPayload: 1 << 20 }).run(single("t/big"), { bytes: 1_200_000 })).result();
    expect(record.status).toBe("failed");
    expect(record.tasks[0]!.error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", message: expect.stringContaining('task "s/a"') });
    expect(record.tasks[0]!.error?.message).toMatch(/over the limit maxPayload = \d+ bytes/);
  });

  it("by default (64 MiB, as a fleet with its payload store) a 5 MB and a 50 MB output reach the next task", async () => {
    const e = setup();
    const chain = workflow("chain", { version: "1", input: z.object({ bytes: z.number().int() }) });
    const s = chain.state("s");
    s.task("b", { executor: "t/big" }).then(s.task("after", { executor: "t/echo" }));
    for (const bytes of [5_000_000, 50_000_000]) {
      const record = await (await e.run(chain, { bytes })).result();
      expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
      expect(record.tasks.find((t) => t.task === "after")!.output).toEqual({ got: "object", length: bytes });
    }
  });

  it("parents' outputs over the limit fail the child; one 600 KB parent output does not (it travels once)", async () => {
    const e = setup({ maxPayload: 1 << 20 });
    const failed = await (await e.run(pair(), { bytes: 600_000 })).result();
    expect(failed.status).toBe("failed");
    const after = failed.tasks.find((t) => t.task === "after")!;
    expect(after.error).toMatchObject({ code: "PAYLOAD_TOO_LARGE", message: expect.stringContaining('task "s/after"') });
    const ok = await (await e.run(pair(), { bytes: 400_000 })).result();
    expect(ok.status).toBe("succeeded");
  });

  it("outputs that are not JSON or nested too deep fail with the fleet's errors", async () => {
    const e = setup();
    const bigint = await (await e.run(single("t/bigint"), { bytes: 0 })).result();
    expect(bigint.tasks[0]!.error?.code).toBe("PAYLOAD_NOT_JSON");
    const deep = await (await e.run(single("t/deep"), { bytes: 0 })).result();
    expect(deep.tasks[0]!.error).toMatchObject({ code: "PAYLOAD_TOO_DEEP", message: expect.stringContaining('task "s/a"') });
    const abyss = await (await e.run(single("t/abyss"), { bytes: 0 })).result();
    expect(abyss.tasks[0]!.error).toMatchObject({ code: "PAYLOAD_TOO_DEEP", message: expect.stringContaining('task "s/a"') });
  });

  it("toJsonText names a value nested 10,000 deep as too deep, and a cycle as not JSON", () => {
    let v: unknown = 1;
    for (let i = 0; i < 10_000; i++) v = { v };
    expect(() => toJsonText(v, "thing")).toThrow(PayloadTooDeepError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => toJsonText(cycle, "thing")).toThrow(PayloadNotJsonError);
  });

  it("a run input over the limit is refused up front with INPUT_TOO_LARGE naming the limit, as on a fleet (nothing starts)", async () => {
    const e = setup({ maxPayload: 1 << 20 });
    const wf = workflow("roomy", { version: "1", input: z.object({ bytes: z.number().int(), blob: z.string() }) });
    wf.state("s").task("a", { executor: "t/echo" });
    const run = e.run(wf, { bytes: 0, blob: "x".repeat(5 * 1024 * 1024) });
    await expect(run).rejects.toThrow(RunInputTooLargeError);
    await expect(run).rejects.toMatchObject({ code: "INPUT_TOO_LARGE", message: expect.stringMatching(/input of workflow "roomy" is \d+ bytes as JSON, over the limit maxPayload = \d+ bytes/) });
    expect(exitCodeFor(await run.catch((err: unknown) => err))).toBe(2);
    expect(e.kept().runs).toBe(0);
  });

  it("the limit is configurable, and can be turned off", async () => {
    const small = await (await setup({ maxPayload: 4096 }).run(single("t/big"), { bytes: 5000 })).result();
    expect(small.tasks[0]!.error?.code).toBe("PAYLOAD_TOO_LARGE");
    await engine!.close();
    const off = await (await setup({ maxPayload: false }).run(single("t/big"), { bytes: 1_200_000 })).result();
    expect(off.status).toBe("succeeded");
  });

  it("a schema that reshapes a merged input makes the input travel; one that does not, not", () => {
    const parents = { a: { x: 1, extra: true }, b: { y: 2 } };
    expect(rebuildsFromParents(["a", "b"], parents, { x: 1, extra: true, y: 2 }, false)).toBe(true);
    expect(rebuildsFromParents(["a", "b"], parents, { x: 1, extra: true, y: 2 }, true)).toBe(true);
    expect(rebuildsFromParents(["a", "b"], parents, { x: 1, y: 2 }, true)).toBe(false);
    expect(rebuildsFromParents([], {}, { x: 1 }, false)).toBe(false);
  });
});
