// The small parsers behind --replicas and the archive format (--format / the file's extension).
import { describe, expect, it } from "vitest";
import { archiveFormatOf } from "../../src/archive/write.js";
import { replicasFrom } from "../../src/cli/replicas-flag.js";
import { UsageError } from "../../src/errors/base.js";
import { resolveNatsTransportOptions } from "../../src/transport/nats/options.js";

describe("cli - --replicas and archive formats", () => {
  it("cli - --replicas takes 1 to 5 and names the flag otherwise", () => {
    expect(replicasFrom(undefined)).toBeUndefined();
    expect(replicasFrom("3")).toBe(3);
    for (const bad of ["0", "6", "2.5", "three"]) expect(() => replicasFrom(bad)).toThrow(/--replicas ".*" must be a whole number from 1 to 5/);
  });

  it("nats options - replicas is optional (existing streams used as they are) and validated when given", () => {
    expect(resolveNatsTransportOptions({ servers: "nats://a:4222" }).replicas).toBeUndefined();
    expect(resolveNatsTransportOptions({ servers: ["nats://a:4222", "nats://b:4222"], replicas: 3 })).toMatchObject({ replicas: 3, servers: ["nats://a:4222", "nats://b:4222"] });
    expect(() => resolveNatsTransportOptions({ servers: "nats://a:4222", replicas: 7 })).toThrow(expect.objectContaining({ code: "OPTIONS_INVALID" }));
  });

  it("archive - the format comes from the flag, else from the extension, else a usage error", () => {
    expect(archiveFormatOf("sqlite", "run.json")).toBe("sqlite");
    expect(archiveFormatOf(undefined, "run.JSON")).toBe("json");
    expect(archiveFormatOf(undefined, "dir/run.db")).toBe("sqlite");
    expect(archiveFormatOf(undefined, "run.sqlite3")).toBe("sqlite");
    expect(() => archiveFormatOf("csv", "run.csv")).toThrow(UsageError);
    expect(() => archiveFormatOf(undefined, "run.bin", "--export-format")).toThrow(/give --export-format json or --export-format sqlite/);
  });
});
