/**
 * What the coordinators remember of each schedule and source, one entry per trigger
 * (`sched.<wf>.<id>` / `src.<wf>.<id>` in `<p>_runs`, or a Map embedded): the last
 * tick handled, the next one, and for a source the pass under way. Written with
 * compare-and-set, so two coordinators evaluating one trigger agree.
 */
import { createHash } from "node:crypto";
import { z } from "zod";

export const triggerStateSchema = z.object({
  kind: z.enum(["schedule", "source"]),
  workflow: z.string(),
  id: z.string(),
  /** `cron "0 2 * * *" (UTC)`, `every 15m`, `every 60s via ns/list`. */
  describe: z.string(),
  catchUp: z.enum(["skip", "latest", "all"]).optional(),
  /** The last tick handled (epoch ms); absent for a source not polled yet. */
  lastTick: z.number().optional(),
  nextTick: z.number().optional(),
  /** The run the last tick started (schedules). */
  lastRunId: z.string().optional(),
  /** A source's latest pass: its run, and whether its items were started. */
  pass: z.object({ runId: z.string(), tick: z.number(), processed: z.boolean() }).optional(),
  /** What the last processed pass did. */
  lastPass: z.object({ at: z.number(), listed: z.number(), started: z.number(), invalid: z.number(), error: z.string().optional() }).optional(),
  updatedAt: z.number(),
});
export type TriggerState = z.infer<typeof triggerStateSchema>;

export interface StateEntry {
  value: TriggerState;
  revision: number;
}

/** Where trigger states live: KV in the fleet, a Map embedded. */
export interface TriggerStateStore {
  get(key: string): Promise<StateEntry | undefined>;
  /** Rejects when the key exists. */
  create(key: string, value: TriggerState): Promise<number>;
  /** Rejects when the entry is no longer at `revision`. */
  update(key: string, value: TriggerState, revision: number): Promise<number>;
  list(): Promise<TriggerState[]>;
}

const hashOf = (workflow: string): string => createHash("sha256").update(workflow).digest("hex").slice(0, 16);
/** The store key of a trigger (workflow names are hashed: they need not be KV-safe). */
export const triggerKey = (kind: "schedule" | "source", workflow: string, id: string): string => `${kind === "schedule" ? "sched" : "src"}.${hashOf(workflow)}.${id}`;
export const TRIGGER_KEY_FILTERS = ["sched.>", "src.>"] as const;

/** A Map-backed store (embedded engines, tests). */
export function createMemoryTriggerStore(): TriggerStateStore {
  const entries = new Map<string, StateEntry>();
  return {
    get: (key) => Promise.resolve(entries.get(key)),
    create(key, value) {
      if (entries.has(key)) return Promise.reject(new Error(`key "${key}" exists`));
      entries.set(key, { value, revision: 1 });
      return Promise.resolve(1);
    },
    update(key, value, revision) {
      const e = entries.get(key);
      if (!e || e.revision !== revision) return Promise.reject(new Error(`key "${key}" is not at revision ${revision}`));
      entries.set(key, { value, revision: revision + 1 });
      return Promise.resolve(revision + 1);
    },
    list: () => Promise.resolve([...entries.values()].map((e) => e.value)),
  };
}
