import { describe, expect, it } from "vitest";
import { createFakeClock } from "../support/fake-clock.js";

describe("runtime - fake clock", () => {
  it("runtime - fake clock fires due timers in order, at their due time, and runs promise jobs between them", async () => {
    const clock = createFakeClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => {
      fired.push(`a@${clock.now()}`);
      // work queued by a timer runs before the next timer fires
      void Promise.resolve().then(() => clock.setTimeout(() => fired.push(`c@${clock.now()}`), 5));
    }, 10);
    const cleared = clock.setTimeout(() => fired.push("never"), 15);
    clock.clearTimeout(cleared);
    await clock.advance(16);
    expect(fired).toEqual(["a@110", "c@115"]);
    expect(clock.now()).toBe(116);
    expect(clock.nextDue()).toBe(120);
    await clock.runAll();
    expect(fired).toEqual(["a@110", "c@115", "b@120"]);
    expect(clock.pending()).toBe(0);
  });
});
