/**
 * The pump behind the fleet's limit gates (src/support/coalescing-pump.ts): one pass at a
 * time, requests during a pass coalesced into one more pass, a poll timer after the passes
 * settle while something waits, and nothing after close.
 */
import { describe, expect, test } from "vitest";
import { createCoalescingPump } from "../../src/support/coalescing-pump.js";
import { createFakeClock } from "../support/fake-clock.js";

function gated(): { pass: () => Promise<void>; started: number; finishOne: () => void; running: number; maxRunning: number } {
  const pending: (() => void)[] = [];
  const s = {
    started: 0,
    running: 0,
    maxRunning: 0,
    pass: async (): Promise<void> => {
      s.started++;
      s.running++;
      s.maxRunning = Math.max(s.maxRunning, s.running);
      await new Promise<void>((resolve) => pending.push(resolve));
      s.running--;
    },
    finishOne: (): void => pending.shift()?.(),
  };
  return s;
}

describe("coalescing pump", () => {
  test("coalescing pump - requests during a pass make exactly one more pass, never two at once", async () => {
    const clock = createFakeClock(1_000);
    const g = gated();
    const pump = createCoalescingPump({ clock, pass: g.pass, nextPollInMs: () => undefined, onError: () => {} });
    pump.request();
    await clock.flush();
    expect(g.started).toBe(1);
    for (let i = 0; i < 5; i++) pump.request();
    g.finishOne();
    await clock.flush();
    expect(g.started).toBe(2);
    g.finishOne();
    await clock.flush();
    expect(g.started).toBe(2);
    expect(g.maxRunning).toBe(1);
    expect(pump.busy).toBe(false);
    expect(clock.pending()).toBe(0);
    pump.close();
  });

  test("coalescing pump - polls while something waits, and takes the sooner of two poll times", async () => {
    const clock = createFakeClock(1_000);
    let passes = 0;
    let waitMs: number | undefined = 250;
    const pump = createCoalescingPump({
      clock,
      pass: async () => {
        passes++;
      },
      nextPollInMs: () => waitMs,
      onError: () => {},
    });
    pump.request();
    await clock.flush();
    expect(passes).toBe(1);
    expect(clock.nextDue()).toBe(1_250);
    // A later request whose settle wants a sooner poll moves the timer up; a later one does not.
    waitMs = 50;
    pump.request();
    await clock.flush();
    expect(passes).toBe(2);
    expect(clock.nextDue()).toBe(1_050);
    expect(clock.pending()).toBe(1);
    waitMs = undefined;
    await clock.advance(50);
    expect(passes).toBe(3);
    expect(clock.pending()).toBe(0);
    pump.close();
  });

  test("coalescing pump - a failing pass is reported and the pump goes on", async () => {
    const clock = createFakeClock(1_000);
    const errors: unknown[] = [];
    let passes = 0;
    const pump = createCoalescingPump({
      clock,
      pass: async () => {
        passes++;
        if (passes === 1) throw new Error("store unavailable");
      },
      nextPollInMs: () => (passes < 2 ? 100 : undefined),
      onError: (err) => errors.push(err),
    });
    pump.request();
    await clock.flush();
    expect(errors).toHaveLength(1);
    await clock.advance(100);
    expect(passes).toBe(2);
    expect(errors).toHaveLength(1);
    pump.close();
  });

  test("coalescing pump - after close no pass starts and no poll is left", async () => {
    const clock = createFakeClock(1_000);
    const g = gated();
    const pump = createCoalescingPump({ clock, pass: g.pass, nextPollInMs: () => 10, onError: () => {} });
    pump.request();
    await clock.flush();
    pump.request();
    pump.close();
    g.finishOne();
    await clock.flush();
    expect(g.started).toBe(1);
    expect(clock.pending()).toBe(0);
    pump.request();
    await clock.flush();
    expect(g.started).toBe(1);
  });
});
