// createEngine's options are checked where they now live (embedded/engine-options.ts), once,
// with the one options error naming each bad field; the engine module still exports them.
import { describe, expect, it } from "vitest";
import { engineOptionsSchema, upgradeOptionsSchema, DEFAULT_ENGINE_CONCURRENCY } from "../../src/embedded/engine-options.js";
import { createEngine, DEFAULT_ENGINE_CONCURRENCY as fromEngine } from "../../src/embedded/engine.js";
import { OptionsError } from "../../src/errors/options.js";
import { createRegistry } from "../../src/registry/registry.js";

describe("engine options", () => {
  it("engine options - the schema fills the default concurrency and refuses unknown fields and bad ids", () => {
    expect(engineOptionsSchema.parse({}).concurrency).toBe(DEFAULT_ENGINE_CONCURRENCY);
    expect(fromEngine).toBe(DEFAULT_ENGINE_CONCURRENCY);
    expect(engineOptionsSchema.safeParse({ nope: 1 }).success).toBe(false);
    expect(engineOptionsSchema.safeParse({ coordinatorId: "a b" }).success).toBe(false);
    expect(upgradeOptionsSchema.safeParse({ toVersion: "" }).success).toBe(false);
    expect(upgradeOptionsSchema.parse({ toVersion: "2", dryRun: true })).toEqual({ toVersion: "2", dryRun: true });
  });

  it("engine options - createEngine refuses bad options with one OptionsError naming the field", () => {
    expect(() => createEngine({ registry: createRegistry(), concurrency: 0 })).toThrow(OptionsError);
    expect(() => createEngine({ registry: createRegistry(), concurrency: 0 })).toThrow(/concurrency/);
  });
});
