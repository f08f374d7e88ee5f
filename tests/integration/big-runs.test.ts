// Big runs stay readable: a run record over the server's max_payload (20,000 tasks, or a
// 600 KB input flowing through its tasks) cannot travel in one API reply, so the
// coordinator says REPLY_TOO_LARGE at once instead of letting the request time out, and
// the client folds the run's history itself: `phaseflow status <id> --json` answers with
// the whole record. The run list never carries outputs and always fits one reply.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { z } from "zod";
import { workflow } from "../../src/dsl/workflow.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";

const url = inject("natsUrl");
const PREFIX = "bigruns";
const WIDE = 20_000;

const wide = workflow("wide-20k", { version: "1" });
{
  const s = wide.state("wide");
  for (let i = 0; i < WIDE; i++) s.task(`t${i}`, { executor: "big/noop" });
}
const blob = workflow("blob", { version: "1", input: z.object({ blob: z.string() }) });
{
  const s = blob.state("only");
  // Two roots: each task message carries the 600 KB input once (a child would carry its parent's output twice until parents are sent once).
  s.task("a", { executor: "big/echo" });
  s.task("b", { executor: "big/echo" });
}

const registry = createRegistry();
registry
  .namespace("big")
  .register("noop", () => ({ ok: 1 }))
  .register("echo", (input: unknown) => input);

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false });
  return { code, stdout, stderr };
}

describe("fleet - big runs stay readable", () => {
  let coordinator: CoordinatorService;
  let worker: NatsWorker;
  let client: Client;

  beforeAll(async () => {
    coordinator = await startCoordinatorService({ nats: { servers: url, prefix: PREFIX }, workflows: [wide, blob] });
    worker = await startNatsWorker({ nats: { servers: url, prefix: PREFIX }, registry, concurrency: 256 });
    client = await createClient({ servers: url, prefix: PREFIX, requestTimeoutMs: 30_000 });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop({ graceful: false });
    await coordinator?.close();
  }, 60_000);

  it("fleet - status --json of a 20,000-task run answers with every task", async () => {
    const { runId } = await client.start("wide-20k", {});
    expect((await client.waitForEnd(runId)).status).toBe("succeeded");
    const { code, stdout } = await cli(["status", runId, "--nats", url, "--prefix", PREFIX, "--json"]);
    expect(code).toBe(0);
    const record = JSON.parse(stdout) as RunRecord;
    expect(record.status).toBe("succeeded");
    expect(record.tasks).toHaveLength(WIDE);
    expect(record.tasks.every((t) => t.status === "succeeded")).toBe(true);
    // The list carries summaries only.
    const [summary] = (await client.list({ limit: 1 })).filter((r) => r.runId === runId);
    expect(summary?.tasks.total).toBe(WIDE);
    expect(JSON.stringify(summary).length).toBeLessThan(1000);
  }, 120_000);

  it("fleet - a run with a 600 KB input is readable: get folds its history (references, resolved from the payload store), status prints it", async () => {
    const input = { blob: "x".repeat(600_000) };
    const { runId } = await client.start("blob", input);
    expect((await client.waitForEnd(runId)).status).toBe("succeeded");
    // Over inlineBytes (256 KiB), the outputs travel and are recorded as payload references;
    // the record resolves to the values from the payload store.
    const stored = await client.get(runId);
    expect(stored.status).toBe("succeeded");
    expect(JSON.stringify(stored).length).toBeLessThan(100_000);
    const record = await client.transport.payloads.resolve<typeof stored>(stored);
    expect(record.tasks.map((t) => (t.output as { blob: string }).blob.length)).toEqual([600_000, 600_000]);
    expect((record.output as { blob: string }).blob).toBe(input.blob);
    const text = await cli(["status", runId, "--nats", url, "--prefix", PREFIX]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("succeeded");
  }, 60_000);
});
