// `phaseflow versions` against a real fleet: a coordinator serving v1 and v2 of "holdout"
// and one v1 run in flight (pending: no worker is up, so it stays in flight without any
// waiting on time). The command names both versions and their plan hashes, the
// coordinator serving them, 1 run in flight on v1 and none on v2; `client.versions()`
// says the same.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { compile } from "../../src/compiler/compile.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { spawnPhaseflow, startCoordinatorProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";
import { holdout as holdoutV1 } from "../fixtures/versions/holdout-v1.js";
import { holdout as holdoutV2 } from "../fixtures/versions/holdout-v2.js";

const url = inject("natsUrl");
const PREFIX = "cliversions";
const V1 = "tests/fixtures/versions/holdout-v1.ts";
const V2 = "tests/fixtures/versions/holdout-v2.ts";
const v1Hash = compile(holdoutV1).planHash;
const v2Hash = compile(holdoutV2).planHash;

const processes: PhaseflowProcess[] = [];
let client: Client;

async function versions(...args: string[]): Promise<{ code: number | null; stdout: string; output: string }> {
  const p = spawnPhaseflow(["versions", "--nats", url, "--prefix", PREFIX, ...args]);
  processes.push(p);
  let stdout = "";
  p.child.stdout!.on("data", (chunk: string) => (stdout += chunk));
  const { code } = await p.exited;
  return { code, stdout, output: p.output() };
}

describe("cli - versions", () => {
  let runId: string;

  beforeAll(async () => {
    processes.push(await startCoordinatorProcess(url, PREFIX, [V1, V2], ["--id", "vcoord"]));
    client = await createClient({ servers: url, prefix: PREFIX });
    const started = await client.start("holdout", { ms: 10 }, { version: "1" });
    expect(started).toMatchObject({ version: "1", planHash: v1Hash });
    expect(started.waitingFor.length, "no worker is up: the run stays pending").toBeGreaterThan(0);
    runId = started.runId;
  }, 60_000);

  afterAll(async () => {
    await client.cancel(runId, "test over").catch(() => undefined);
    await client.close();
    await stopAll(processes);
  });

  it("cli versions - each version with its plan, its coordinator and its runs in flight", async () => {
    const r = await versions();
    expect(r.code, r.output).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("holdout");
    const v1 = lines.find((l) => l.trim().startsWith("1 "));
    const v2 = lines.find((l) => l.trim().startsWith("2 "));
    expect(v1, r.stdout).toMatch(new RegExp(`^\\s+1\\s+${v1Hash.slice(0, 12)}\\s+vcoord\\S*\\s+1 run in flight$`));
    expect(v2, r.stdout).toMatch(new RegExp(`^\\s+2\\s+${v2Hash.slice(0, 12)}\\s+vcoord\\S*\\s+0 runs in flight$`));
  });

  it("cli versions - --json and client.versions() give the same rows", async () => {
    const r = await versions("--json");
    expect(r.code, r.output).toBe(0);
    const rows = JSON.parse(r.stdout) as unknown[];
    expect(rows).toEqual([
      { workflow: "holdout", version: "1", planHash: v1Hash, coordinators: [expect.stringMatching(/^vcoord/)], inFlight: 1 },
      { workflow: "holdout", version: "2", planHash: v2Hash, coordinators: [expect.stringMatching(/^vcoord/)], inFlight: 0 },
    ]);
    expect(await client.versions()).toEqual(rows);
  });

  it("cli versions - without --nats it is a usage error", async () => {
    const p = spawnPhaseflow(["versions"]);
    processes.push(p);
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.output()).toContain("missing --nats URL");
  });
});
