// An executor for the workflow-concurrency tests (embedded and fleet): each execution
// announces its start on a gate and waits until the test releases it by name, counting how
// many of one user's runs are inside it at once. No sleeps, no timing asserts.
import type { TaskContext } from "../../src/registry/types.js";
import { gate, type Gate } from "./runtime-fixtures.js";

export interface HeldRuns {
  /** The executor: input `{ user, name }`, output `{ name }`; aborts with the attempt. */
  readonly executor: (input: { user: string; name: string }, ctx: TaskContext) => Promise<{ name: string }>;
  /** "start <name>" and "end <name>" in the order they happened. */
  readonly log: string[];
  /** Resolves once the execution named `name` has begun. */
  readonly started: (name: string) => Promise<void>;
  /** Lets the execution named `name` end (before or after it began). */
  readonly release: (name: string) => void;
  /** The most of `user`'s runs ever inside the executor at once. */
  readonly most: (user: string) => number;
  /** The most of any one user's runs ever inside the executor at once. */
  readonly mostOfAny: () => number;
}

export function heldRuns(): HeldRuns {
  const started = new Map<string, Gate>();
  const release = new Map<string, Gate>();
  const gateOf = (m: Map<string, Gate>, name: string): Gate => {
    let g = m.get(name);
    if (!g) m.set(name, (g = gate()));
    return g;
  };
  const inside = new Map<string, number>();
  const most = new Map<string, number>();
  const log: string[] = [];
  return {
    log,
    executor: async (input, ctx) => {
      const n = (inside.get(input.user) ?? 0) + 1;
      inside.set(input.user, n);
      most.set(input.user, Math.max(most.get(input.user) ?? 0, n));
      log.push(`start ${input.name}`);
      gateOf(started, input.name).open();
      try {
        await Promise.race([
          gateOf(release, input.name).opened,
          new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), { once: true })),
        ]);
        log.push(`end ${input.name}`);
        return { name: input.name };
      } finally {
        inside.set(input.user, inside.get(input.user)! - 1);
      }
    },
    started: (name) => gateOf(started, name).opened,
    release: (name) => gateOf(release, name).open(),
    most: (user) => most.get(user) ?? 0,
    mostOfAny: () => Math.max(0, ...most.values()),
  };
}
