/**
 * Run records in the `<p>_runs` KV bucket, written with compare-and-set, and the
 * per-run lease that makes one coordinator at a time drive a run.
 *
 * The full run record is derived from the run's events in `<P>_EVENTS` (that is the
 * durable history); what KV holds is the run's current summary — status, state,
 * task counts, timestamps, error — plus who drives it (`coordinator`) and until when
 * (`leaseUntil`). It stays small whatever the run's size, so a 10,000-task run never
 * hits the KV value limit.
 *
 * Every write for a run is serialized and conditioned on the last revision this
 * coordinator saw. A conflict means another writer got there first: the store
 * re-reads, and if the run now belongs to someone else, the write is dropped and
 * `onLost(runId)` tells the coordinator to stop driving it. Taking over an expired
 * lease is itself a compare-and-set, so two coordinators can never both win it.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import { runStatusSchema, type RunRecord } from "../runtime/run-record-schema.js";
import type { TypedEntry, TypedKv } from "../transport/nats/typed-kv.js";

export const storedRunSchema = z.object({
  runId: z.string(),
  workflow: z.string(),
  version: z.string(),
  planHash: z.string(),
  status: runStatusSchema,
  currentState: z.string().optional(),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  updatedAt: z.number(),
  tasks: z.object({ total: z.number(), succeeded: z.number(), failed: z.number(), running: z.number() }),
  error: serializedErrorSchema.optional(),
  /** Executors a pending run waits for. */
  waitingFor: z.array(z.string()).optional(),
  /** A pending run's input and options, so another coordinator can start it if this one dies. */
  pendingStart: z.object({ input: z.unknown().optional(), options: z.record(z.string(), z.unknown()) }).optional(),
  /** Id of the coordinator driving the run. */
  coordinator: z.string(),
  /** Epoch ms until which `coordinator` holds the run; renewed while it drives it. */
  leaseUntil: z.number(),
});
export type StoredRun = z.infer<typeof storedRunSchema>;

/** The summary of a run record, for KV. */
export function summarize(record: RunRecord): Omit<StoredRun, "coordinator" | "leaseUntil" | "updatedAt"> {
  let succeeded = 0, failed = 0, running = 0;
  for (const t of record.tasks) {
    if (t.status === "succeeded") succeeded++;
    else if (t.status === "failed") failed++;
    else if (t.status === "running" || t.status === "dispatched") running++;
  }
  return {
    runId: record.runId,
    workflow: record.workflow,
    version: record.version,
    planHash: record.planHash,
    status: record.status,
    ...(record.currentState !== undefined ? { currentState: record.currentState } : {}),
    ...(record.startedAt !== undefined ? { startedAt: record.startedAt } : {}),
    ...(record.finishedAt !== undefined ? { finishedAt: record.finishedAt } : {}),
    ...(record.error !== undefined ? { error: record.error } : {}),
    tasks: { total: record.tasks.length, succeeded, failed, running },
  };
}

export interface RunStoreOptions {
  /** This coordinator's id. */
  owner: string;
  /** How long a lease lasts without renewal. */
  leaseMs: number;
  now: () => number;
  logger: Logger;
  /** Called when a write finds the run now belongs to another coordinator. */
  onLost: (runId: string, newOwner: string) => void;
}

export interface RunStore {
  /** Create the run's entry, owned by us. Rejects when the run id exists. */
  create(run: Omit<StoredRun, "coordinator" | "leaseUntil" | "updatedAt">): Promise<void>;
  /** Write the run's summary and renew our lease (CAS). Serialized per run; never rejects. */
  save(run: Omit<StoredRun, "coordinator" | "leaseUntil" | "updatedAt">): Promise<void>;
  /** Renew our lease on every run we hold, keeping their summaries. */
  renewAll(): Promise<void>;
  /** Take over a run whose lease expired (or that we held before a restart). True when we won it. */
  takeOver(entry: TypedEntry<StoredRun>): Promise<boolean>;
  /** Stop renewing a run (finished, or lost). */
  forget(runId: string): void;
  get(runId: string): Promise<StoredRun | undefined>;
  entries(): Promise<TypedEntry<StoredRun>[]>;
  /** Runs this store holds leases on. */
  held(): string[];
}

export function createRunStore(kv: TypedKv<StoredRun>, o: RunStoreOptions): RunStore {
  const revisions = new Map<string, number>();
  const latest = new Map<string, StoredRun>();
  const chains = new Map<string, Promise<void>>();

  const stamp = (run: Omit<StoredRun, "coordinator" | "leaseUntil" | "updatedAt">): StoredRun => ({
    ...run,
    coordinator: o.owner,
    leaseUntil: o.now() + o.leaseMs,
    updatedAt: o.now(),
  });

  const write = async (run: StoredRun): Promise<void> => {
    for (let tries = 0; tries < 5; tries++) {
      const rev = revisions.get(run.runId);
      if (rev === undefined) return; // not ours (forgotten or lost)
      try {
        revisions.set(run.runId, await kv.update(run.runId, run, rev));
        latest.set(run.runId, run);
        return;
      } catch (err) {
        const current = await kv.get(run.runId).catch(() => undefined);
        if (!current) {
          o.logger.warn({ err, runId: run.runId }, "run record vanished from KV; recreating it");
          revisions.set(run.runId, await kv.create(run.runId, run));
          return;
        }
        if (current.value.coordinator !== o.owner) {
          revisions.delete(run.runId);
          latest.delete(run.runId);
          o.onLost(run.runId, current.value.coordinator);
          return;
        }
        revisions.set(run.runId, current.revision);
      }
    }
    o.logger.warn({ runId: run.runId }, "run record could not be written after 5 tries; will retry on the next update");
  };

  const enqueue = (runId: string, job: () => Promise<void>): Promise<void> => {
    const next = (chains.get(runId) ?? Promise.resolve())
      .then(job)
      .catch((err: unknown) => o.logger.warn({ err, runId }, "run record could not be written to KV"));
    chains.set(runId, next);
    void next.then(() => {
      if (chains.get(runId) === next) chains.delete(runId);
    });
    return next;
  };

  return {
    async create(run) {
      const stamped = stamp(run);
      revisions.set(run.runId, await kv.create(run.runId, stamped));
      latest.set(run.runId, stamped);
    },
    save(run) {
      return enqueue(run.runId, () => write(stamp(run)));
    },
    async renewAll() {
      await Promise.all(
        [...latest.values()].map((run) => enqueue(run.runId, () => write({ ...(latest.get(run.runId) ?? run), leaseUntil: o.now() + o.leaseMs, updatedAt: o.now() }))),
      );
    },
    async takeOver(entry) {
      const claimed: StoredRun = { ...entry.value, coordinator: o.owner, leaseUntil: o.now() + o.leaseMs, updatedAt: o.now() };
      try {
        revisions.set(entry.key, await kv.update(entry.key, claimed, entry.revision));
        latest.set(entry.key, claimed);
        return true;
      } catch {
        return false; // someone else changed it first
      }
    },
    forget(runId) {
      revisions.delete(runId);
      latest.delete(runId);
    },
    async get(runId) {
      return (await kv.get(runId))?.value;
    },
    async entries() {
      const out: TypedEntry<StoredRun>[] = [];
      for (const key of await kv.keys()) {
        const entry = await kv.get(key);
        if (entry) out.push(entry);
      }
      return out;
    },
    held: () => [...latest.keys()],
  };
}
