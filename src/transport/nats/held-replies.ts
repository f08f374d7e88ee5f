/**
 * The reply subjects of the deliveries a worker holds, in shared memory, for the stall
 * keeper's thread (stall-keeper.ts). The main thread writes a slot when it takes a delivery
 * and clears it when the delivery is settled; the thread reads the slots only while the main
 * thread is stalled. So holding and releasing cost a few stores and no message to the thread.
 *
 * Layout of the table's SharedArrayBuffer: `slots` pairs of Int32 (version, byte length) after
 * one Int32 holding how many slots were ever used, then `slots` byte ranges of `slotBytes`
 * each, with the UTF-8 of a reply subject. A slot's version is odd while the main thread
 * writes it; the reader takes a slot only if its version was even and unchanged across its
 * read (a seqlock), so it never reads a reply half written, e.g. when it took a main thread
 * that was merely slow for a stalled one. A table that runs out of slots, or meets a reply
 * longer than its slots, is made anew (twice as large) with every held reply copied over;
 * the thread is then handed the new one.
 */

/** The table as the thread receives it (structured clone shares the buffer). */
export interface HeldTable {
  readonly buffer: SharedArrayBuffer;
  readonly slots: number;
  readonly slotBytes: number;
}

/** Slots of a first table: a worker's concurrency is usually below it. */
const FIRST_SLOTS = 64;
/** Bytes of each slot at first: `$JS.ACK.<stream>.<consumer>.` and six numbers fit with room to spare. */
const FIRST_SLOT_BYTES = 256;

const encoder = new TextEncoder();

/**
 * `readHeld(table, decoder)`: every reply subject held now, as the stall keeper's thread runs it
 * (its source is part of the thread's code; tests evaluate the same source).
 */
export const READ_HELD_SOURCE = `
function readHeld(table, decoder) {
  const ints = new Int32Array(table.buffer, 0, 1 + 2 * table.slots);
  const bytes = new Uint8Array(table.buffer, 4 * (1 + 2 * table.slots), table.slots * table.slotBytes);
  const out = [];
  const used = Atomics.load(ints, 0);
  for (let i = 0; i < used; i++) {
    const version = Atomics.load(ints, 1 + 2 * i);
    if ((version & 1) === 1) continue;
    const length = Atomics.load(ints, 2 + 2 * i);
    if (length === 0) continue;
    const reply = decoder.decode(bytes.slice(i * table.slotBytes, i * table.slotBytes + length));
    if (Atomics.load(ints, 1 + 2 * i) === version) out.push(reply);
  }
  return out;
}
`;

/**
 * The main thread's side: hold and release by delivery id.
 *
 * @example
 * const held = new HeldReplies();
 * held.hold(1, msg.reply); // true: the table was made anew, hand `held.table` to the thread
 * held.release(1);
 */
export class HeldReplies {
  private current: HeldTable;
  private ints: Int32Array;
  private bytes: Uint8Array;
  private readonly slotOf = new Map<number, number>();
  /** Reply of each used slot (undefined: free), to copy into a new table. */
  private readonly replies: (string | undefined)[] = [];
  private readonly free: number[] = [];

  constructor(slots = FIRST_SLOTS, slotBytes = FIRST_SLOT_BYTES) {
    this.current = { buffer: new SharedArrayBuffer(0), slots: 0, slotBytes: 0 };
    this.ints = new Int32Array(0);
    this.bytes = new Uint8Array(0);
    this.remake(slots, slotBytes);
  }

  /** The table to hand to the thread. */
  get table(): HeldTable {
    return this.current;
  }

  /** Deliveries held now. */
  get size(): number {
    return this.slotOf.size;
  }

  /** Write `reply` for delivery `id`; true when the table was made anew for it. */
  hold(id: number, reply: string): boolean {
    let remade = false;
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.free.pop();
      if (slot === undefined) {
        if (this.replies.length === this.current.slots) {
          this.remake(this.current.slots * 2, this.current.slotBytes);
          remade = true;
        }
        slot = this.replies.length;
        this.replies.push(undefined);
        Atomics.store(this.ints, 0, this.replies.length);
      }
      this.slotOf.set(id, slot);
    }
    this.replies[slot] = reply;
    if (!this.write(slot, reply)) {
      // Longer than a slot (UTF-8 takes at most 3 bytes per UTF-16 unit): make every slot fit it.
      let slotBytes = this.current.slotBytes * 2;
      while (slotBytes < 3 * reply.length) slotBytes *= 2;
      this.remake(this.current.slots, slotBytes);
      remade = true;
    }
    return remade;
  }

  release(id: number): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.slotOf.delete(id);
    this.replies[slot] = undefined;
    this.write(slot, undefined);
    this.free.push(slot);
  }

  /** Write one slot (undefined: clear it); false when the reply does not fit (the slot is left cleared). */
  private write(slot: number, reply: string | undefined): boolean {
    const at = 1 + 2 * slot;
    Atomics.add(this.ints, at, 1); // odd: being written
    let length = 0;
    let fits = true;
    if (reply !== undefined) {
      const start = slot * this.current.slotBytes;
      const { read, written } = encoder.encodeInto(reply, this.bytes.subarray(start, start + this.current.slotBytes));
      fits = read === reply.length;
      length = fits ? written : 0;
    }
    Atomics.store(this.ints, at + 1, length);
    Atomics.add(this.ints, at, 1); // even: stable
    return fits;
  }

  /** A new table of `slots` x `slotBytes` holding every reply held now, in the same slots. */
  private remake(slots: number, slotBytes: number): void {
    const intBytes = 4 * (1 + 2 * slots);
    const buffer = new SharedArrayBuffer(intBytes + slots * slotBytes);
    this.current = { buffer, slots, slotBytes };
    this.ints = new Int32Array(buffer, 0, 1 + 2 * slots);
    this.bytes = new Uint8Array(buffer, intBytes, slots * slotBytes);
    Atomics.store(this.ints, 0, this.replies.length);
    for (let i = 0; i < this.replies.length; i++) {
      const reply = this.replies[i];
      if (reply !== undefined) this.write(i, reply);
    }
  }
}
