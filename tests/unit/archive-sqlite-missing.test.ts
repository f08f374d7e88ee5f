// Without better-sqlite3 installed (it is an optional peer dependency), a SQLite archive
// is refused with what to install; other load failures are not disguised as that.
import { describe, expect, it } from "vitest";
import { loadSqlite } from "../../src/archive/sqlite.js";

describe("archive - SQLite without better-sqlite3", () => {
  it("archive - a missing better-sqlite3 is a usage error naming the package to install", async () => {
    const missing = Object.assign(new Error("Cannot find package 'better-sqlite3'"), { code: "ERR_MODULE_NOT_FOUND" });
    await expect(loadSqlite(() => Promise.reject(missing))).rejects.toMatchObject({ code: "USAGE", message: expect.stringContaining("npm install better-sqlite3") });
    const broken = new Error("invalid ELF header");
    await expect(loadSqlite(() => Promise.reject(broken))).rejects.toBe(broken);
    await expect(loadSqlite()).resolves.toBeTypeOf("function");
  });
});
