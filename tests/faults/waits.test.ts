// Signal and sleep nodes on a real nats-server, across a coordinator kill -9: a run
// sleeping when its coordinator dies wakes on the new one — a sleep that came due while
// no coordinator was up at once on takeover, one due later at its time; a signal sent
// before its node is reached is kept in the history and consumed when it is; a signal
// sent twice with one id (once through `phaseflow signal`) is applied once; a payload
// failing the node's schema, or an unknown signal name, is refused and stores nothing.
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import type { RunEvent } from "../../src/transport/messages.js";
import { tookOver, useFleet, waitForEvent } from "./support.js";

describe("faults - waits across a coordinator kill", () => {
  const fleet = useFleet("fwt", { workers: ["w1"] });

  it("faults - sleeps wake on the new coordinator after kill -9; an early signal is consumed once; bad signals store nothing", async () => {
    const first = await fleet.coordinator(["--lease-ms", "2000", "--id", "w-first"]);
    const t0 = Date.now();
    // The late sleep comes due well after the takeover (a new coordinator's start and an
    // expired 2 s lease: some 5 s after t0).
    const input = { earlyAt: t0 + 1_500, lateAt: t0 + 12_000 };
    const { runId } = await fleet.client.start("waits", input);
    await waitForEvent(fleet.client, runId, (e) => e.type === "task.waiting" && e.task === "late");

    // Sent before "go" is reached: kept in the history.
    expect(await fleet.client.signal(runId, "go", { ok: true }, { id: "go-1" })).toMatchObject({ duplicate: false, id: "go-1" });
    const storedBefore = (await fleet.client.transport.readHistory(runId)).messages.length;
    await expect(fleet.client.signal(runId, "go", { ok: "yes" })).rejects.toMatchObject({ code: "SIGNAL_PAYLOAD_INVALID" });
    await expect(fleet.client.signal(runId, "stop", {})).rejects.toMatchObject({ code: "SIGNAL_UNKNOWN" });
    // The same id again, from the command line: applied once.
    let out = "";
    const code = await runCli(["signal", runId, "go", "--payload", '{"ok":false}', "--id", "go-1", "--nats", fleet.url, "--prefix", fleet.prefix], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (out += s) },
      isTTY: false,
      cwd: process.cwd(),
    });
    expect(code, out).toBe(0);
    expect(out).toContain("applied once");
    expect((await fleet.client.transport.readHistory(runId)).messages.length).toBe(storedBefore);

    first.kill("SIGKILL");
    await first.exited;
    // Let the early sleep come due while no coordinator is up.
    while (Date.now() < input.earlyAt + 200) await new Promise((r) => setTimeout(r, 100));
    const second = await fleet.coordinator(["--lease-ms", "2000", "--id", "w-second"]);
    await tookOver(second, runId);

    const { record, events } = await fleet.finish(runId);
    expect(record.status, JSON.stringify(record.error)).toBe("succeeded");
    const task = (name: string) => record.tasks.find((t) => t.task === name)!;
    expect(task("early").output).toEqual({ sleptUntil: input.earlyAt });
    expect(task("late").output).toEqual({ sleptUntil: input.lateAt });
    expect(task("late").finishedAt).toBeGreaterThanOrEqual(input.lateAt);
    expect(task("go").output).toEqual({ ok: true });
    expect(record.signals).toEqual([expect.objectContaining({ name: "go", id: "go-1", consumedBy: "only/go" })]);

    // Both sleeps woke in decisions of the second coordinator, after it claimed the run.
    const claims = events.flatMap((e, i) => (e.type === "run.claimed" ? [{ i, owner: e.owner }] : []));
    const takeover = claims[claims.length - 1]!;
    expect(takeover.owner).toMatch(/^w-second/);
    const wokeAt = (name: string): number => events.findIndex((e: RunEvent) => e.type === "task.waited" && e.task === name);
    expect(wokeAt("early")).toBeGreaterThan(takeover.i);
    expect(wokeAt("late")).toBeGreaterThan(takeover.i);
    expect(events.filter((e) => e.type === "signal.received")).toHaveLength(1);
  }, 120_000);
});
