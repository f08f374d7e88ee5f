// Payloads of any size on a fleet (README "Payloads of any size"): a value over inlineBytes
// (256 KiB) is stored once in the object store bucket <p>_payloads and messages carry a
// reference; the worker that needs the value fetches it. The run's PF_EVENTS history stays
// small, retention and prune remove a run's payloads (one several runs share stays while
// one of them is kept), and a value over maxPayload fails with an error naming the limit.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { createClient } from "../../src/fleet/client.js";
import { isPayloadRef } from "../../src/transport/payloads.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { COORDINATOR, useFleet, waitForExecution } from "../faults/support.js";

const MB = 1_000_000;

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, isTTY: false });
  return { code, stdout, stderr };
}

describe("fleet - payloads of any size", () => {
  const fleet = useFleet("fpayload", { coordinators: [COORDINATOR], workers: ["w1", "w2"] });

  /** Bytes the run's messages take in the events stream, read back one by one. */
  async function historyBytes(runId: string): Promise<number> {
    const t = fleet.client.transport;
    const { messages } = await t.readHistory(runId);
    let bytes = 0;
    for (const m of messages) {
      const stored = await t.jsm.streams.getMessage(t.names.streams.events, { seq: m.seq });
      bytes += stored?.data.byteLength ?? 0;
    }
    return bytes;
  }

  const task = (record: RunRecord, name: string) => record.tasks.find((t) => t.task === name)!;

  it("fleet - a 5 MB task output reaches the next task as a reference, and the history stays small", async () => {
    const { runId } = await fleet.client.start("big-measure", { bytes: 5 * MB });
    const { record } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.output).toEqual({ got: 5 * MB });
    // The record (status --json) shows the reference; resolving it gives the value.
    const big = task(record, "big").output;
    expect(isPayloadRef(big)).toBe(true);
    expect(((await fleet.client.transport.payloads.resolve(big)) as { blob: string }).blob).toHaveLength(5 * MB);
    const bytes = await historyBytes(runId);
    console.log(`5 MB output: PF_EVENTS history of the run is ${bytes} bytes`);
    expect(bytes).toBeLessThan(16_000);

    // status --json shows the reference, --resolve the value; export writes values.
    const nats = ["--nats", fleet.url, "--prefix", fleet.prefix];
    const plain = JSON.parse((await cli(["status", runId, ...nats, "--json"])).stdout) as RunRecord;
    expect(isPayloadRef(task(plain, "big").output)).toBe(true);
    const resolved = JSON.parse((await cli(["status", runId, ...nats, "--json", "--resolve"])).stdout) as RunRecord;
    expect((task(resolved, "big").output as { blob: string }).blob).toHaveLength(5 * MB);
    const out = join(mkdtempSync(join(tmpdir(), "pf-payload-")), "run.json");
    expect((await cli(["export", runId, ...nats, "--out", out])).code).toBe(0);
    const archive = JSON.parse(readFileSync(out, "utf8")) as { record: RunRecord };
    expect((task(archive.record, "big").output as { blob: string }).blob).toHaveLength(5 * MB);
  }, 120_000);

  it("fleet - two referenced outputs merge into the input of their common child", async () => {
    const { runId } = await fleet.client.start("big-pair", { bytes: 600_000 });
    const { record } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    // `after` returns its input with one more key: the merge of both blobs, resolved on the worker.
    const after = (await fleet.client.transport.payloads.resolve(task(record, "after").output)) as { blob: string; after: boolean };
    expect(after.blob).toHaveLength(600_000);
    expect(after.after).toBe(true);
  }, 120_000);

  it("fleet - a 50 MB output survives kill -9 of its worker mid-upload and reaches the next task", async () => {
    const t = fleet.client.transport;
    const objectStream = `OBJ_${t.names.prefix}_payloads`;
    const chunksBefore = (await t.jsm.streams.info(objectStream)).state.messages;
    const { runId } = await fleet.client.start("big-measure", { bytes: 50 * MB, fill: "z" });
    const ran = await waitForExecution(fleet.log, runId, (e) => e.taskId === "only/big");
    const victim = [...fleet.workers.entries()].find(([, p]) => p.pid === ran.pid)!;
    // Kill it once the first chunks of its upload are stored (or its upload finished already on a fast machine).
    while ((await t.jsm.streams.info(objectStream)).state.messages === chunksBefore) await new Promise((r) => setTimeout(r, 5));
    const stored = await t.payloads.list();
    const midTransfer = !stored.some((p) => p.bytes > 50 * MB);
    victim[1].kill("SIGKILL");
    await victim[1].exited;
    console.log(`50 MB output: worker ${victim[0]} killed ${midTransfer ? "mid-upload" : "after its upload"}`);
    const { record } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    expect(record.output).toEqual({ got: 50 * MB });
    const bytes = await historyBytes(runId);
    console.log(`50 MB output: PF_EVENTS history of the run is ${bytes} bytes`);
    expect(bytes).toBeLessThan(16_000);
    const big = task(record, "big").output;
    expect(isPayloadRef(big) && big.bytes).toBeGreaterThan(50 * MB);
  }, 180_000);

  it("fleet - prune removes a run's payloads; one two runs share stays while one of them is kept", async () => {
    const t = fleet.client.transport;
    const first = await fleet.client.start("big-measure", { bytes: 2 * MB, fill: "y" });
    const a = (await fleet.finish(first.runId)).record;
    const second = await fleet.client.start("big-measure", { bytes: 2 * MB, fill: "y" });
    const b = (await fleet.finish(second.runId)).record;
    const shared = task(b, "big").output;
    expect(task(a, "big").output).toEqual(shared); // same content, one object
    const object = () => t.payloads.list().then((all) => all.find((p) => isPayloadRef(shared) && p.id === shared.$pfref));
    expect([...((await object())?.runs ?? [])].sort()).toEqual([a.runId, b.runId].sort());

    // Prune what finished before the second run started: the first run goes, its object stays for the second.
    await fleet.client.prune(Date.now() - b.startedAt!);
    expect(await fleet.client.transport.readHistory(a.runId)).toMatchObject({ messages: [] });
    expect((await object())?.runs).toEqual([b.runId]);

    await fleet.client.prune(0);
    expect(await object()).toBeUndefined();
    // Every earlier run of this fleet was pruned too, and their payloads with them (the 50 MB one included).
    expect(await t.payloads.list()).toEqual([]);
  }, 120_000);

  it("fleet - a value over maxPayload fails with an error naming the limit, and the run stays readable", async () => {
    for (const [, p] of fleet.workers) {
      p.kill("SIGTERM");
      await p.exited;
    }
    await fleet.worker("small", ["--max-payload", "1MB"]);
    const { runId } = await fleet.client.start("big-measure", { bytes: 2 * MB });
    const { record } = await fleet.finish(runId);
    expect(record.status).toBe("failed");
    const big = task(record, "big");
    expect(big.error?.code).toBe("PAYLOAD_TOO_LARGE");
    expect(big.error?.message).toMatch(/maxPayload = 1048576 bytes/);
    expect(big.error?.message).toContain("--max-payload");
    expect((await fleet.client.get(runId)).status).toBe("failed");

    // A run input over the client's maxPayload is refused before anything starts.
    const small = await createClient({ servers: fleet.url, prefix: fleet.prefix, maxPayload: 1 << 20 });
    try {
      await expect(small.start("big-measure", { bytes: 1, pad: "p".repeat(2 * MB) })).rejects.toMatchObject({ code: "INPUT_TOO_LARGE", message: expect.stringContaining("maxPayload") as string });
    } finally {
      await small.close();
    }
  }, 120_000);
});

