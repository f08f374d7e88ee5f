import { describe, expect, test } from "vitest";
import { z } from "zod";
import { ExecutorNotFoundError, RegistryError } from "../../src/errors/base.js";
import { createRegistry, isRegistry } from "../../src/registry/registry.js";
import { checkExecutorKey, splitExecutorKey } from "../../src/registry/keys.js";

function codeOf(fn: () => unknown): { error: unknown; code: string | undefined } {
  try {
    fn();
  } catch (error) {
    return { error, code: (error as { code?: string }).code };
  }
  throw new Error("expected a throw");
}

describe("registry", () => {
  test("registry - registers and resolves executors by namespace/name", async () => {
    const registry = createRegistry();
    const input = z.object({ day: z.string() });
    const extract = (i: { day: string }) => ({ rows: i.day.length });
    registry.namespace("etl").register("extract", extract, { input, description: "reads rows" }).register("load", () => null);
    const entry = registry.resolve("etl/extract");
    expect(entry).toMatchObject({ key: "etl/extract", namespace: "etl", name: "extract", input, description: "reads rows" });
    expect(await entry.fn({ day: "mon" }, {} as never)).toEqual({ rows: 3 });
    expect(registry.get("etl/load")?.name).toBe("load");
    expect(registry.get("etl/missing")).toBeUndefined();
    expect(registry.has("etl/load")).toBe(true);
    expect(registry.has("etl/missing")).toBe(false);
    expect(isRegistry(registry)).toBe(true);
    expect(isRegistry({})).toBe(false);
  });

  test("registry - lists keys and namespaces sorted", () => {
    const registry = createRegistry();
    registry.namespace("ml").register("train", () => null);
    registry.namespace("etl").register("load", () => null).register("extract", () => null);
    expect(registry.keys()).toEqual(["etl/extract", "etl/load", "ml/train"]);
    expect(registry.namespaces()).toEqual(["etl", "ml"]);
  });

  test("registry - use copies every executor of another registry", () => {
    const a = createRegistry();
    a.namespace("etl").register("extract", () => null);
    const b = createRegistry();
    b.namespace("ml").register("train", () => null);
    expect(b.use(a)).toBe(b);
    expect(b.keys()).toEqual(["etl/extract", "ml/train"]);
    expect(b.resolve("etl/extract").fn).toBe(a.resolve("etl/extract").fn);
  });

  test("registry - registering a key twice throws EXECUTOR_DUPLICATE", () => {
    const registry = createRegistry();
    registry.namespace("etl").register("extract", () => null);
    const { error, code } = codeOf(() => registry.namespace("etl").register("extract", () => 1));
    expect(error).toBeInstanceOf(RegistryError);
    expect(code).toBe("EXECUTOR_DUPLICATE");
    expect((error as Error).message).toContain('"etl/extract" is already registered');

    const other = createRegistry();
    other.namespace("etl").register("extract", () => null);
    expect(codeOf(() => registry.use(other)).code).toBe("EXECUTOR_DUPLICATE");
  });

  test.each([
    ["an empty namespace", "", "x"],
    ["an empty name", "etl", ""],
    ["a dot", "etl", "ex.tract"],
    ["a dot in the namespace", "e.tl", "extract"],
    ["a space", "etl", "ex tract"],
    ["a '*'", "etl", "*"],
    ["a '>'", "etl", ">"],
    ["a '/' in the name", "etl", "a/b"],
  ])("registry - rejects a key with %s as EXECUTOR_KEY_INVALID", (_what, ns, name) => {
    const registry = createRegistry();
    const { error, code } = codeOf(() => registry.namespace(ns).register(name, () => null));
    expect(error).toBeInstanceOf(RegistryError);
    expect(code).toBe("EXECUTOR_KEY_INVALID");
    expect(registry.keys()).toEqual([]);
  });

  test("registry - rejects an executor that is not a function", () => {
    const { error, code } = codeOf(() => createRegistry().namespace("etl").register("x", "nope" as never));
    expect(error).toBeInstanceOf(RegistryError);
    expect(code).toBe("EXECUTOR_KEY_INVALID");
  });

  test("registry - resolving an unknown key throws ExecutorNotFoundError naming what is registered", () => {
    const registry = createRegistry();
    registry.namespace("etl").register("extract", () => null);
    const { error, code } = codeOf(() => registry.resolve("etl/load"));
    expect(error).toBeInstanceOf(ExecutorNotFoundError);
    expect(code).toBe("EXECUTOR_NOT_FOUND");
    expect((error as ExecutorNotFoundError).executor).toBe("etl/load");
    expect((error as Error).message).toContain("registered: etl/extract");
  });

  test("registry - checks and splits executor keys", () => {
    expect(checkExecutorKey("etl/extract")).toBeUndefined();
    expect(checkExecutorKey("etl_2/ex-tract")).toBeUndefined();
    expect(checkExecutorKey("etl")).toContain('exactly one "/"');
    expect(checkExecutorKey("etl/a/b")).toContain('exactly one "/"');
    expect(checkExecutorKey("/x")).toContain("is empty");
    expect(splitExecutorKey("etl/extract")).toEqual({ namespace: "etl", name: "extract" });
  });
});
