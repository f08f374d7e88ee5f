// The stall keeper's table of held reply subjects (src/transport/nats/held-replies.ts): what
// the main thread holds is what the thread's reader (the very source the thread runs) finds,
// across releases, reused slots, and tables made anew for more deliveries or longer replies.
import { runInThisContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { HeldReplies, READ_HELD_SOURCE, type HeldTable } from "../../src/transport/nats/held-replies.js";

const readHeld = runInThisContext(`(() => { ${READ_HELD_SOURCE}; return readHeld; })()`) as (table: HeldTable, decoder: { decode(bytes: Uint8Array): string }) => string[];
const decoder = new TextDecoder();
const read = (held: HeldReplies): string[] => readHeld(held.table, decoder).sort();
const reply = (n: number): string => `$JS.ACK.PF_TASKS.pf_ns_etl.1.${n}.${n}.1765152000000000000.0`;

describe("held replies - the stall keeper's shared table", () => {
  it("held replies - the reader finds what is held and not what was released", () => {
    const held = new HeldReplies();
    held.hold(1, reply(1));
    held.hold(2, reply(2));
    held.hold(3, reply(3));
    held.release(2);
    expect(read(held)).toEqual([reply(1), reply(3)].sort());
    expect(held.size).toBe(2);
    held.release(1);
    held.release(3);
    held.release(3);
    expect(read(held)).toEqual([]);
  });

  it("held replies - a freed slot is reused for the next delivery", () => {
    const held = new HeldReplies(4, 128);
    for (let id = 1; id <= 100; id++) {
      expect(held.hold(id, reply(id))).toBe(false);
      held.release(id);
    }
    held.hold(101, reply(101));
    expect(held.table.slots).toBe(4);
    expect(read(held)).toEqual([reply(101)]);
  });

  it("held replies - more deliveries than slots make the table anew, keeping every held reply", () => {
    const held = new HeldReplies(4, 128);
    const first = held.table;
    const remade: boolean[] = [];
    for (let id = 1; id <= 10; id++) remade.push(held.hold(id, reply(id)));
    expect(remade.filter((r) => r)).toHaveLength(2); // 4 -> 8 -> 16 slots
    expect(held.table.slots).toBe(16);
    expect(held.table.buffer).not.toBe(first.buffer);
    held.release(5);
    expect(read(held)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10].map(reply).sort());
  });

  it("held replies - a reply longer than a slot (also in UTF-8) makes every slot fit it", () => {
    const held = new HeldReplies(4, 64);
    held.hold(1, reply(1));
    const long = `$JS.ACK.PF_TASKS.${"ä".repeat(100)}.1.2.3.4.0`;
    expect(held.hold(2, long)).toBe(true);
    expect(held.table.slotBytes).toBeGreaterThanOrEqual(new TextEncoder().encode(long).byteLength);
    expect(read(held)).toEqual([reply(1), long].sort());
  });

  it("held replies - a slot being written is skipped, not read half written", () => {
    const held = new HeldReplies(4, 128);
    held.hold(1, reply(1));
    held.hold(2, reply(2));
    // As if the main thread were in the middle of writing slot 0 (its version odd).
    const ints = new Int32Array(held.table.buffer, 0, 1 + 2 * held.table.slots);
    Atomics.add(ints, 1, 1);
    expect(read(held)).toEqual([reply(2)]);
    Atomics.add(ints, 1, 1);
    expect(read(held)).toEqual([reply(1), reply(2)].sort());
  });
});
