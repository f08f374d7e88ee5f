// The pieces the run shell is built of, each where it lives: its timers (watchdogs on one
// FIFO timer), its side of the task limits, and the pure rules it asks about attempts
// (the start a live signal tells, the attempts the task sweep asks about).
import { describe, expect, it } from "vitest";
import { RunTimers } from "../../src/runtime/shell/run-timers.js";
import { RunLimitHolds } from "../../src/runtime/shell/run-limit-holds.js";
import { createMemoryLimitGate } from "../../src/runtime/shell/limit-gate.js";
import { startHeardOf } from "../../src/runtime/core/attempt-timers.js";
import type { LimitRef } from "../../src/runtime/core/limit-state.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import type { LiveSignal, TaskMessage } from "../../src/transport/messages.js";
import { createFakeClock } from "../support/fake-clock.js";

describe("run timers", () => {
  it("run timers - fires watchdogs and other timers in due order, re-armed ones at their new time", async () => {
    const clock = createFakeClock(0);
    const fired: string[] = [];
    const timers = new RunTimers(clock, (key) => fired.push(`${key}@${clock.now()}`));
    timers.arm("watchdog:a", 100);
    timers.arm("watchdog:b", 200);
    timers.arm("sleep:s", 150);
    timers.arm("watchdog:a", 50); // before the FIFO's tail: a timer of its own
    timers.arm("watchdog:c", 300);
    timers.disarm("watchdog:c");
    await clock.advance(1_000);
    expect(fired).toEqual(["watchdog:a@50", "sleep:s@150", "watchdog:b@200"]);
  });

  it("run timers - nothing fires or is armed after close", async () => {
    const clock = createFakeClock(0);
    const fired: string[] = [];
    const timers = new RunTimers(clock, (key) => {
      fired.push(key);
      timers.close();
    });
    timers.arm("watchdog:a", 10);
    timers.arm("watchdog:b", 10);
    timers.arm("sleep:s", 20);
    await clock.advance(100);
    timers.arm("sleep:t", 150);
    await clock.advance(100);
    expect(fired).toEqual(["watchdog:a"]);
    expect(clock.pending()).toBe(0);
  });
});

describe("run limit holds", () => {
  const one: LimitRef[] = [{ kind: "concurrency", scope: "llm", key: "", limit: 1 }];
  const message = (dispatchId: string): TaskMessage => ({ dispatchId, priority: 3 }) as TaskMessage;

  it("run limit holds - an attempt waits for the limit, is sent once the holder's report frees it, and is shown waiting meanwhile", () => {
    const clock = createFakeClock(0);
    const gate = createMemoryLimitGate(clock);
    const live = new Set(["a", "b"]);
    const holds = new RunLimitHolds(gate, (id) => live.has(id));
    const sent: string[] = [];
    holds.request(message("a"), one, 0, () => sent.push("a"));
    holds.request(message("b"), one, 0, () => sent.push("b"));
    expect(sent).toEqual(["a"]);
    expect(holds.waiting("b")).toBe(true);
    const record = { tasks: [{ dispatchId: "a" }, { dispatchId: "b" }] } as unknown as RunRecord;
    expect(holds.annotate(record).tasks.map((t) => t.waitingFor)).toEqual([undefined, "waiting for limit llm: 1/1 in use"]);
    holds.reported("a");
    expect(sent).toEqual(["a", "b"]);
    expect(holds.waiting("b")).toBe(false);
    gate.close();
  });

  it("run limit holds - an attempt given up while it waits is never sent, and settling frees what the over attempts held", () => {
    const clock = createFakeClock(0);
    const gate = createMemoryLimitGate(clock);
    const live = new Set(["a", "b", "c"]);
    const holds = new RunLimitHolds(gate, (id) => live.has(id));
    const sent: string[] = [];
    for (const id of ["a", "b", "c"]) holds.request(message(id), one, 0, () => sent.push(id));
    live.delete("a");
    live.delete("b");
    holds.settle(); // a (holding) gives the limit back; b (waiting) stops waiting: c goes
    expect(sent).toEqual(["a", "c"]);
    holds.drop("broken");
    const d = new RunLimitHolds(gate, () => true);
    d.request(message("d"), one, 0, () => sent.push("d"));
    expect(sent).toEqual(["a", "c", "d"]);
    gate.close();
  });
});

describe("attempt starts heard of", () => {
  const signal = (type: LiveSignal["type"], at: number, startedAt?: number): LiveSignal =>
    ({ v: 3, type, runId: "r", dispatchId: "d", at, ...(startedAt === undefined ? {} : { startedAt }) }) as LiveSignal;

  it("attempt timers - a start is now less the time run as the worker measured it, never the worker's clock", () => {
    expect(startHeardOf(signal("attempt.started", 5_000, 4_800), undefined, 1_000)).toBe(800);
    expect(startHeardOf(signal("attempt.started", 5_000), undefined, 1_000)).toBe(1_000);
    expect(startHeardOf(signal("attempt.heartbeat", 9_000, 4_000), undefined, 10_000)).toBe(5_000);
    // A start known: a heartbeat tells nothing new, a start again (redelivery) does.
    expect(startHeardOf(signal("attempt.heartbeat", 9_000, 4_000), 500, 1_000)).toBeUndefined();
    expect(startHeardOf(signal("attempt.started", 9_000), 500, 1_000)).toBe(1_000);
    // A heartbeat without its start tells none.
    expect(startHeardOf(signal("attempt.heartbeat", 9_000), undefined, 1_000)).toBeUndefined();
  });
});
