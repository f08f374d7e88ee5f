/**
 * Attempts waiting for a limit, in the order they are let through (README "Traffic
 * control"): priority first (1 before 5), then per key round-robin, so one busy tenant
 * cannot starve the others, and FIFO within a key. Pure: it knows nothing of how limits
 * are held; `release` asks a `fits` callback whether a waiter may go now.
 */
import type { LimitRef } from "./limit-state.js";
import { limitId } from "./limit-state.js";

export interface Waiter {
  /** The attempt (its dispatch id): what holds the limit once it goes. */
  holder: string;
  limits: readonly LimitRef[];
  /** 1 (first) .. 5 (last). */
  priority: number;
  /** When it began to wait (epoch ms). */
  since: number;
}

/** The key waiters take turns by: the attempt's first limit (its concurrency limit when it has one). */
const turnOf = (w: Waiter): string => limitId(w.limits.find((l) => l.kind === "concurrency") ?? w.limits[0]!);

export class LimitQueue {
  /** priority -> turn key -> waiters in arrival order. The turn keys' order is the round-robin. */
  private readonly levels = new Map<number, Map<string, Waiter[]>>();
  private readonly byHolder = new Map<string, Waiter>();

  get size(): number {
    return this.byHolder.size;
  }

  has(holder: string): boolean {
    return this.byHolder.has(holder);
  }

  get(holder: string): Waiter | undefined {
    return this.byHolder.get(holder);
  }

  /** Every waiter (no order promised). */
  waiters(): IterableIterator<Waiter> {
    return this.byHolder.values();
  }

  add(w: Waiter): void {
    if (this.byHolder.has(w.holder)) return;
    this.byHolder.set(w.holder, w);
    let level = this.levels.get(w.priority);
    if (!level) {
      level = new Map();
      this.levels.set(w.priority, level);
    }
    const turn = turnOf(w);
    const list = level.get(turn);
    if (!list) {
      level.set(turn, [w]);
      return;
    }
    // In order of `since`: one put back (a fleet coordinator lost a compare-and-set race) takes its old place.
    let i = list.length;
    while (i > 0 && list[i - 1]!.since > w.since) i--;
    list.splice(i, 0, w);
  }

  /** Stop waiting (cancelled, timed out, run gone); false when it was not waiting. */
  remove(holder: string): boolean {
    const w = this.byHolder.get(holder);
    if (!w) return false;
    this.byHolder.delete(holder);
    const level = this.levels.get(w.priority)!;
    const turn = turnOf(w);
    const list = level.get(turn)!;
    list.splice(list.indexOf(w), 1);
    if (list.length === 0) level.delete(turn);
    if (level.size === 0) this.levels.delete(w.priority);
    return true;
  }

  /**
   * Let through every waiter `admit` accepts, in order: per priority level, rounds over the
   * keys (each key's earliest waiter that `fits`, then the key goes to the back), until a
   * round lets nothing through. `admit` takes the limits when it returns true. Returns the
   * waiters let through, in order.
   */
  release(fits: (w: Waiter) => boolean, admit: (w: Waiter) => boolean): Waiter[] {
    const out: Waiter[] = [];
    for (const priority of [...this.levels.keys()].sort((a, b) => a - b)) {
      for (;;) {
        const level = this.levels.get(priority);
        if (!level) break;
        let moved = false;
        for (const turn of [...level.keys()]) {
          const list = level.get(turn);
          const w = list?.find(fits);
          if (!w || !admit(w)) continue;
          this.remove(w.holder);
          // Served: this key goes to the back of the round.
          const rest = level.get(turn);
          if (rest) {
            level.delete(turn);
            level.set(turn, rest);
          }
          out.push(w);
          moved = true;
        }
        if (!moved) break;
      }
    }
    return out;
  }
}
