// README "Traffic control" on a fleet: a workflow's `concurrency` (runs in flight per key)
// lives in the fleet's KV store (compare-and-set), so it holds across coordinators. Two
// coordinator services and a NATS worker in this process, on a real nats-server; each
// strategy keeps one run per user at a time while another user's run goes on side by
// side. Executors announce their start and wait on gates: no sleeps, no timing asserts.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { workflow, z } from "../../src/index.js";
import type { OnRunLimit } from "../../src/dsl/workflow.js";
import { RunLimitReachedError } from "../../src/errors/limits.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import { createRegistry } from "../../src/registry/registry.js";
import { heldRuns } from "../support/held-runs.js";
import { gate } from "../support/runtime-fixtures.js";
import { runCli } from "../../src/cli/run-cli.js";
import { UsageError } from "../../src/errors/base.js";

const url = inject("natsUrl");
const PREFIX = "runlimits";

const input = z.object({ user: z.string(), name: z.string() });
const flows = (["queue", "cancel-in-progress", "drop"] as const).map((onLimit: OnRunLimit) => {
  const wf = workflow(`rl-${onLimit}`, { version: "1", input, concurrency: { limit: 1, key: (i) => i.user, onLimit } });
  wf.state("s").task("work", { executor: "rl/work", input });
  return wf;
});

// Two versions of a queued workflow, for upgrading a run that waits in the queue.
const upFlows = ["1", "2"].map((version) => {
  const wf = workflow("rl-up", { version, input, concurrency: { limit: 1, key: (i) => i.user, onLimit: "queue" } });
  wf.state("s").task("work", { executor: "rl/work", input });
  return wf;
});

const held = heldRuns();
const registry = createRegistry();
registry.namespace("rl").register("work", held.executor);

describe("fleet - runs in flight per key (workflow concurrency) hold across coordinators", () => {
  const services: CoordinatorService[] = [];
  let worker: NatsWorker;
  let client: Client;

  beforeAll(async () => {
    for (const id of ["c1", "c2"]) services.push(await startCoordinatorService({ nats: { servers: url, prefix: PREFIX }, workflows: [...flows, ...upFlows], coordinatorId: id }));
    worker = await startNatsWorker({ nats: { servers: url, prefix: PREFIX }, registry, workerId: "w1", concurrency: 8 });
    client = await createClient({ servers: url, prefix: PREFIX });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await worker?.stop({ graceful: false });
    for (const s of services) await s.close();
  }, 60_000);

  /** What a run waits for, once its status says it waits at all. */
  const waitingOf = async (runId: string): Promise<string | undefined> => (await client.inspect(runId)).waiting;

  it('fleet - onLimit "queue": a user\'s later runs wait (their status says for what) and start one at a time, in order; another user\'s run goes on meanwhile', async () => {
    const start = (user: string, name: string) => client.start("rl-queue", { user, name: `q-${name}` });
    const a1 = await start("ann", "a1");
    await held.started("q-a1");
    const a2 = await start("ann", "a2");
    const a3 = await start("ann", "a3");
    const b1 = await start("bob", "b1");
    await held.started("q-b1"); // bob is not held up by ann's queue
    expect(await waitingOf(a2.runId)).toBe("queued: workflow limit rl-queue[ann] 1/1 in use, 0 queued ahead");
    expect(await waitingOf(a3.runId)).toBe("queued: workflow limit rl-queue[ann] 1/1 in use, 1 queued ahead");
    expect((await client.inspect(a2.runId)).record.status).toBe("pending");
    held.release("q-a1");
    await held.started("q-a2");
    expect((await client.inspect(a3.runId)).record.status).toBe("pending");
    held.release("q-a2");
    await held.started("q-a3");
    held.release("q-a3");
    held.release("q-b1");
    for (const r of [a1, a2, a3, b1]) expect((await client.waitForEnd(r.runId)).status).toBe("succeeded");
    expect(held.log.filter((l) => l.includes("q-a"))).toEqual(["start q-a1", "end q-a1", "start q-a2", "end q-a2", "start q-a3", "end q-a3"]);
    expect(held.most("ann")).toBe(1);
  });

  it('fleet - onLimit "queue": the start of a queued run says so; `phaseflow run` prints it in one line and follows the run to its end', async () => {
    const first = await client.start("rl-queue", { user: "cli", name: "cli-1" });
    expect(first.queued).toBeUndefined();
    await held.started("cli-1");
    const second = await client.start("rl-queue", { user: "cli", name: "cli-2" });
    expect(second.queued).toBe("queued: workflow limit rl-queue[cli] 1/1 in use, 0 queued ahead");

    let stderr = "";
    const noticed = gate();
    const io = {
      stdout: { write: () => undefined },
      stderr: {
        write: (t: string) => {
          stderr += t;
          if (stderr.includes("queued:")) noticed.open();
        },
      },
      isTTY: false,
    };
    const run = runCli(["run", "--nats", url, "--prefix", PREFIX, "--workflow", "rl-queue", "--input", JSON.stringify({ user: "cli", name: "cli-3" })], io);
    await noticed.opened;
    expect(stderr).toContain("queued: workflow limit rl-queue[cli] 1/1 in use, 1 queued ahead");
    expect(stderr.split("\n").filter((l) => l.includes("queued:"))).toHaveLength(1);
    held.release("cli-1");
    await held.started("cli-2");
    held.release("cli-2");
    await held.started("cli-3");
    held.release("cli-3");
    // It kept following: it ends with the run's end.
    expect(await run).toBe(0);
  });

  it('fleet - onLimit "queue": upgrading a run that waits in the queue says it is queued for the limit', async () => {
    const first = await client.start("rl-up", { user: "upa", name: "up-1" }, { version: "1" });
    await held.started("up-1");
    const queued = await client.start("rl-up", { user: "upa", name: "up-2" }, { version: "1" });
    const err = await client.upgrade(queued.runId, { toVersion: "2" }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(`run "${queued.runId}" has not started yet (it is queued: workflow limit rl-up[upa] 1/1 in use, 0 queued ahead); upgrade it once it runs, or start the version you want`);
    held.release("up-1");
    await held.started("up-2");
    held.release("up-2");
    for (const r of [first, queued]) expect((await client.waitForEnd(r.runId)).status).toBe("succeeded");
  });

  it('fleet - onLimit "queue": a start key returns the queued run the first start made', async () => {
    const a1 = await client.start("rl-queue", { user: "kay", name: "k-a1" });
    await held.started("k-a1");
    const a2 = await client.start("rl-queue", { user: "kay", name: "k-a2" }, { key: "kay-2" });
    const again = await client.start("rl-queue", { user: "kay", name: "k-a2" }, { key: "kay-2" });
    expect(again.runId).toBe(a2.runId);
    expect(again.existing).toBe(true);
    held.release("k-a1");
    await held.started("k-a2");
    held.release("k-a2");
    expect((await client.waitForEnd(a1.runId)).status).toBe("succeeded");
    expect((await client.waitForEnd(a2.runId)).status).toBe("succeeded");
  });

  it('fleet - onLimit "cancel-in-progress": a user\'s new run cancels the running one through the cancel path, then starts; another user\'s run is not touched', async () => {
    const start = (user: string, name: string) => client.start("rl-cancel-in-progress", { user, name: `c-${name}` });
    const a1 = await start("cid", "a1");
    await held.started("c-a1");
    const b1 = await start("dan", "b1");
    await held.started("c-b1");
    const a2 = await start("cid", "a2");
    const first = await client.waitForEnd(a1.runId);
    expect(first.status).toBe("cancelled");
    expect(first.status === "cancelled" && first.reason).toContain(`cancelled by run ${a2.runId}`);
    await held.started("c-a2");
    held.release("c-a2");
    held.release("c-b1");
    expect((await client.waitForEnd(a2.runId)).status).toBe("succeeded");
    expect((await client.waitForEnd(b1.runId)).status).toBe("succeeded");
    expect(held.log).not.toContain("end c-a1");
    expect(held.most("cid")).toBe(1);
  });

  it('fleet - onLimit "drop": a user\'s second start is refused with RunLimitReachedError by class while the first runs; another user\'s run goes on; once the first ended, a start runs', async () => {
    const start = (user: string, name: string) => client.start("rl-drop", { user, name: `d-${name}` });
    const a1 = await start("eve", "a1");
    await held.started("d-a1");
    const refused = await start("eve", "a2").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RunLimitReachedError);
    expect(refused).toMatchObject({ code: "RUN_LIMIT_REACHED" });
    expect((refused as Error).message).toContain('workflow "rl-drop" already has 1/1 runs in flight for key "eve"');
    const b1 = await start("fay", "b1");
    await held.started("d-b1");
    held.release("d-a1");
    held.release("d-b1");
    expect((await client.waitForEnd(a1.runId)).status).toBe("succeeded");
    expect((await client.waitForEnd(b1.runId)).status).toBe("succeeded");
    // The place is given back just after the run's end is recorded: a start right then may still be dropped.
    let a3: { runId: string } | undefined;
    for (let i = 0; a3 === undefined; i++) {
      a3 = await start("eve", "a3").catch((e: unknown) => {
        if (!(e instanceof RunLimitReachedError) || i > 200) throw e;
        return new Promise<undefined>((r) => setTimeout(() => r(undefined), 50));
      });
    }
    await held.started("d-a3");
    held.release("d-a3");
    expect((await client.waitForEnd(a3.runId)).status).toBe("succeeded");
    expect(held.log).not.toContain("start d-a2");
    expect(held.most("eve")).toBe(1);
  });
});
