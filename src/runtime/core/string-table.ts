/**
 * Strings that many records share (executors, worker ids, a record's key order), kept
 * once each and named by a 16-bit index, for the compact map instances
 * (instance-table.ts).
 */
import { estimateBytes } from "./record-size.js";

const MAX_U16 = 0xffff;

/** Strings many instances share (executors, worker ids), each kept once and named by a 16-bit index (0: none). */
export class StringTable {
  private readonly list: string[] = [""];
  private readonly index = new Map<string, number>();

  /** The index of `s`, added if new; 0 when the table is full (the caller keeps the string elsewhere). */
  of(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      if (this.list.length > MAX_U16) return 0;
      i = this.list.length;
      this.list.push(s);
      this.index.set(s, i);
    }
    return i;
  }

  at(i: number): string {
    return this.list[i]!;
  }

  private readonly split = new Map<number, readonly string[]>();
  /** The string at `i` as a list of keys (a record's shape, stored joined by commas). */
  keysAt(i: number): readonly string[] {
    let keys = this.split.get(i);
    if (!keys) {
      keys = this.at(i).split(",");
      this.split.set(i, keys);
    }
    return keys;
  }

  bytes(): number {
    return estimateBytes(this.list) * 2;
  }
}
