// The workers' stray-error guard (src/worker/stray-errors.ts), in a child process so
// Node's own uncaughtException / unhandledRejection handling is what runs: several
// attempts at once, each stray error fails the attempt whose code raised it (never
// another), errors of settled attempts or of no attempt are only logged, and the
// promise hooks the scope needs are on only while an executor call is under way.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../support/processes.js";

interface ScenarioResult {
  hookBased: boolean;
  hooksBeforeGuard: boolean;
  hooksGuardIdle: boolean;
  hooksWhileRunning: boolean;
  hooksAfter: boolean;
  hooksUnguarded: boolean;
  openAfter: number;
  openEnd: number;
  failures: { taskId: string; code: string; message: string }[];
  logged: { msg: string; task?: unknown }[];
  counts: { attributed: number; unattributed: number };
}

async function runScenario(): Promise<ScenarioResult> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "tests/fixtures/stray/scenario.ts")], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  expect(code, err).toBe(0);
  return JSON.parse(out) as ScenarioResult;
}

describe("worker - stray-error guard", () => {
  it("worker - stray errors fail their own attempt among concurrent ones; promise hooks only while executors run", async () => {
    const r = await runScenario();
    expect(r.failures.map((f) => f.taskId).sort()).toEqual(["again", "rejection", "timer"]);
    const byTask = new Map(r.failures.map((f) => [f.taskId, f]));
    expect(byTask.get("timer")).toMatchObject({ code: "EXECUTOR_STRAY_ERROR" });
    expect(byTask.get("timer")!.message).toMatch(/"timer" threw outside its call.*timer attempt's stray throw/);
    expect(byTask.get("rejection")!.message).toMatch(/"rejection" left a promise rejected.*rejection attempt's unhandled rejection/);
    expect(byTask.get("again")!.message).toMatch(/"again" left a promise rejected/);
    // The short attempt's leftover timer fired while others ran: traced to it, logged, nothing failed.
    expect(r.logged).toContainEqual({ msg: expect.stringMatching(/^stray error of an executor whose attempt already settled/), task: "short" });
    expect(r.logged).toContainEqual({ msg: expect.stringMatching(/^stray error outside any attempt/), task: undefined });
    expect(r.counts).toEqual({ attributed: 4, unattributed: 1 });
    // Node 20 and 22 run the scope on promise hooks (on only while an executor runs); Node 24 on async context frames (never).
    expect([r.hooksBeforeGuard, r.hooksGuardIdle, r.hooksWhileRunning, r.hooksAfter, r.hooksUnguarded]).toEqual([false, false, r.hookBased, false, false]);
    expect([r.openAfter, r.openEnd]).toEqual([0, 0]);
  }, 60_000);
});
