// RecentMap (src/support/recent-map.ts): keeps at least the newest half of its capacity,
// never more than its capacity, and a key set again counts as new.
import { describe, expect, it } from "vitest";
import { RecentMap } from "../../src/support/recent-map.js";

describe("recent map - keeps the newest entries", () => {
  it("recent map - the newest capacity/2 entries are always there, never more than capacity", () => {
    const m = new RecentMap<string, number>(10);
    for (let i = 0; i < 1_000; i++) {
      m.set(`k${i}`, i);
      expect(m.size).toBeLessThanOrEqual(10);
      for (let j = Math.max(0, i - 4); j <= i; j++) expect(m.get(`k${j}`)).toBe(j);
    }
    expect(m.get("k0")).toBeUndefined();
  });

  it("recent map - a key set again holds its new value and is kept as new", () => {
    const m = new RecentMap<string, number>(4);
    m.set("a", 1);
    m.set("b", 2); // generation full: a, b move to the older one
    m.set("a", 3);
    expect(m.get("a")).toBe(3);
    expect(m.size).toBe(2);
    m.set("c", 4); // a, c become the older generation; b is dropped
    expect(m.get("a")).toBe(3);
    expect(m.get("b")).toBeUndefined();
  });
});
