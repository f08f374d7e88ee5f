/**
 * Run summaries, leases and the two indexes of the `<p>_runs` KV bucket:
 *
 * - `run.<runId>`: the run's summary — a projection of the one fold (status, state,
 *   task counts, times, error), never its outputs — plus, while it runs, who drives
 *   it (`coordinator`) and until when (`leaseUntil`). Finding one run is one `get`.
 * - `active.<runId>`: present while the run is unfinished. Coordinators look for
 *   orphaned runs among these keys only, so none ever reads every run ever stored.
 * - `done.<hour>.<runId>` and `hour.<hour>`: when the run finished (hour = `YYYYMMDDHH`
 *   UTC), so the retention sweep and `phaseflow prune` list the hours, then only the
 *   runs of the hours past the cut-off.
 *
 * Every write of a run's summary is serialized and conditioned on the last revision
 * this coordinator saw. A conflict means another writer got there first: the store
 * re-reads, and if the run now belongs to someone else, the write is dropped and
 * `onLost(runId)` tells the coordinator to stop driving it. The lease only says who
 * *should* drive a run; the fence on the run's decisions (run-outbox.ts) is what keeps
 * a coordinator that lost it from changing it.
 */
import { z } from "zod";
import type { SerializedError } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import type { ResolvedRunStart } from "../support/run-options.js";
import { summaryOf } from "../runtime/core/run-record.js";
import { runSummarySchema, type RunRecord } from "../runtime/core/run-record-schema.js";
import type { FleetTransport, TypedEntry, TypedKv } from "../transport/fleet-port.js";
import { parentRefSchema, type ParentRef } from "../transport/messages.js";

/** A run's KV entry: its summary (`runSummarySchema`, declared once with the record) and what the fleet keeps beside it. */
export const storedRunSchema = runSummarySchema.omit({ waiting: true }).extend({
  updatedAt: z.number(),
  /** Executors a pending run waits for. */
  waitingFor: z.array(z.string()).optional(),
  /** A pending run's input and options, so another coordinator can start it if this one dies. */
  pendingStart: z.object({ input: z.unknown().optional(), options: z.record(z.string(), z.unknown()), parent: parentRefSchema.optional() }).optional(),
  /** A cancel accepted while no one could apply it at once: whoever holds (or next takes) the run applies it. */
  cancelRequested: z.string().optional(),
  /** A run of a workflow with `concurrency`: its key value and limit, and when it asked for a place (its age in the limit's queue; kv-run-gate.ts). */
  runLimit: z.object({ key: z.string(), limit: z.number(), queuedAt: z.number() }).optional(),
  /** The `key.<hash>` entry of the start key that started the run (start-keys.ts): removed with the run. */
  startKey: z.string().optional(),
  /** Id of the coordinator driving the run. */
  coordinator: z.string(),
  /** Epoch ms until which `coordinator` holds the run; renewed while it drives it. */
  leaseUntil: z.number(),
});
export type StoredRun = z.infer<typeof storedRunSchema>;
export type RunSummaryBody = Omit<StoredRun, "coordinator" | "leaseUntil" | "updatedAt">;

export const activeMarkSchema = z.object({ workflow: z.string(), since: z.number() });
export const doneMarkSchema = z.object({ finishedAt: z.number() });

export const runKey = (runId: string): string => `run.${runId}`;
export const activeKey = (runId: string): string => `active.${runId}`;
export const ACTIVE_KEYS = "active.>";

/** `YYYYMMDDHH` (UTC) of an epoch-ms time. */
export function hourOf(at: number): string {
  return new Date(at).toISOString().slice(0, 13).replace(/[-T]/g, "");
}
export const doneKey = (runId: string, finishedAt: number): string => `done.${hourOf(finishedAt)}.${runId}`;
/** One key per hour in which runs finished: a sweep lists these (at most retention / 1 h of them), then one hour's runs. */
export const hourKey = (finishedAt: number): string => `hour.${hourOf(finishedAt)}`;

const UNFINISHED = new Set<StoredRun["status"]>(["pending", "running"]);
export const isUnfinished = (run: Pick<StoredRun, "status">): boolean => UNFINISHED.has(run.status);

/** The summary of a run record, for KV (a held run's: `handle.summary()`, which builds no task record). */
export function summarize(record: RunRecord): RunSummaryBody {
  return summaryOf({ record, compact: undefined });
}

/**
 * The summary of a run accepted and not started yet: pending, its input kept until
 * run.started is stored (so a coordinator that takes the run over can start it), with the
 * executors it waits for, its start key and its place in its workflow's concurrency.
 */
export function acceptedUnstarted(
  run: Pick<StoredRun, "runId" | "workflow" | "version" | "planHash">,
  start: ResolvedRunStart & { parent?: ParentRef | undefined },
  kept: { waitingFor: string[]; startKey?: string | undefined; runLimit?: StoredRun["runLimit"] | undefined },
): RunSummaryBody {
  return {
    ...run,
    status: "pending",
    tasks: { total: 0, succeeded: 0, failed: 0, running: 0 },
    pendingStart: { input: start.input, options: start.options, ...(start.parent !== undefined ? { parent: start.parent } : {}) },
    ...(start.parent !== undefined ? { parent: start.parent.runId } : {}),
    ...(kept.startKey !== undefined ? { startKey: kept.startKey } : {}),
    ...(kept.waitingFor.length > 0 ? { waitingFor: kept.waitingFor } : {}),
    ...(kept.runLimit !== undefined ? { runLimit: kept.runLimit } : {}),
  };
}

/**
 * The final summary of a run that ended before it started (cancelled while pending, or
 * failed with no history): no pending start, no workers waited for, no lease.
 */
export function endedUnstarted(run: StoredRun, end: { status: "cancelled" | "failed"; finishedAt: number; error?: SerializedError }): RunSummaryBody {
  const { pendingStart: _input, waitingFor: _missing, coordinator: _c, leaseUntil: _l, updatedAt: _u, ...rest } = run;
  return { ...rest, ...end };
}

export interface RunStoreKv {
  runs: TypedKv<StoredRun>;
  active: TypedKv<z.infer<typeof activeMarkSchema>>;
  done: TypedKv<z.infer<typeof doneMarkSchema>>;
}

/** The run store's typed views of the `runs` store (summaries, active marks, finished index). */
export function runStoreKv(stores: Pick<FleetTransport, "store">): RunStoreKv {
  return { runs: stores.store("runs", storedRunSchema), active: stores.store("runs", activeMarkSchema), done: stores.store("runs", doneMarkSchema) };
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
  /** Called when a write finds a cancel request another coordinator recorded on a run we hold. */
  onCancelRequested?: (runId: string, reason: string) => void;
}

export interface RunStore {
  /** Create the run's entry (and its active mark), owned by us. Rejects when the run id exists. */
  create(run: RunSummaryBody): Promise<void>;
  /** Write the run's summary and renew our lease (CAS). Serialized per run; never rejects. A finished run leaves the active index. */
  save(run: RunSummaryBody): Promise<void>;
  /** Renew our lease on every run we hold, keeping their summaries. */
  renewAll(): Promise<void>;
  /** Take over a run whose lease expired (or that we held before a restart). True when we won it. */
  takeOver(entry: TypedEntry<StoredRun>): Promise<boolean>;
  /**
   * Claim a failed run for a retry: take its failed entry over (compare-and-set, so two
   * retries cannot both win; a cancel recorded before it failed is spent) and mark it
   * active again. False when another coordinator claimed it first.
   */
  reclaim(entry: TypedEntry<StoredRun>): Promise<boolean>;
  /** Stop renewing a run (finished, or lost). */
  forget(runId: string): void;
  get(runId: string): Promise<TypedEntry<StoredRun> | undefined>;
  /** The entries of unfinished runs (from the active index). */
  active(): Promise<TypedEntry<StoredRun>[]>;
  /** Runs this store holds leases on. */
  held(): string[];
  /**
   * Expire our lease on a run we held and that is unfinished (call `forget` first), so
   * another coordinator takes it over at once. Never rejects: a lease not given up expires.
   */
  giveUp(runId: string): Promise<void>;
  /**
   * Record a cancel request on an unfinished run's entry (compare-and-set, whoever holds it),
   * so its holder — or whoever takes it over next — applies it. Resolves with the entry as
   * written (or as found: finished, or already requested); undefined when the run is unknown.
   */
  requestCancel(runId: string, reason: string): Promise<TypedEntry<StoredRun> | undefined>;
}

export function createRunStore(kv: RunStoreKv, o: RunStoreOptions): RunStore {
  const revisions = new Map<string, number>();
  const latest = new Map<string, StoredRun>();
  const chains = new Map<string, Promise<void>>();

  const stamp = (run: RunSummaryBody): StoredRun => ({ ...run, coordinator: o.owner, leaseUntil: o.now() + o.leaseMs, updatedAt: o.now() });

  const finished = async (run: StoredRun): Promise<void> => {
    const at = run.finishedAt ?? run.updatedAt;
    await kv.done.put(hourKey(at), { finishedAt: at });
    await kv.done.put(doneKey(run.runId, at), { finishedAt: at });
    await kv.active.purge(activeKey(run.runId));
    revisions.delete(run.runId);
    latest.delete(run.runId);
  };

  const write = async (run: StoredRun): Promise<void> => {
    for (let tries = 0; tries < 5; tries++) {
      const rev = revisions.get(run.runId);
      if (rev === undefined) return; // not ours (forgotten or lost)
      try {
        revisions.set(run.runId, await kv.runs.update(runKey(run.runId), run, rev));
        latest.set(run.runId, run);
        if (!isUnfinished(run)) await finished(run);
        return;
      } catch (err) {
        const current = await kv.runs.get(runKey(run.runId));
        if (!current) {
          o.logger.warn({ err, runId: run.runId }, "run summary vanished from KV; recreating it");
          revisions.set(run.runId, await kv.runs.create(runKey(run.runId), run));
          continue;
        }
        if (current.value.coordinator !== o.owner) {
          revisions.delete(run.runId);
          latest.delete(run.runId);
          o.onLost(run.runId, current.value.coordinator);
          return;
        }
        // Ours, but written meanwhile (e.g. a cancel request recorded by another coordinator): keep what it added.
        revisions.set(run.runId, current.revision);
        if (current.value.cancelRequested !== undefined && run.cancelRequested === undefined) {
          run = { ...run, cancelRequested: current.value.cancelRequested };
          if (isUnfinished(run)) o.onCancelRequested?.(run.runId, current.value.cancelRequested);
        }
      }
    }
    o.logger.warn({ runId: run.runId }, "run summary could not be written after 5 tries; will retry on the next update");
  };

  const enqueue = (runId: string, job: () => Promise<void>): Promise<void> => {
    const next = (chains.get(runId) ?? Promise.resolve())
      .then(job)
      .catch((err: unknown) => o.logger.warn({ err, runId }, "run summary could not be written to KV"));
    chains.set(runId, next);
    void next.then(() => {
      if (chains.get(runId) === next) chains.delete(runId);
    });
    return next;
  };

  const takeOver = async (entry: TypedEntry<StoredRun>): Promise<boolean> => {
    const claimed: StoredRun = { ...entry.value, coordinator: o.owner, leaseUntil: o.now() + o.leaseMs, updatedAt: o.now() };
    try {
      revisions.set(entry.value.runId, await kv.runs.update(runKey(entry.value.runId), claimed, entry.revision));
      latest.set(entry.value.runId, claimed);
      return true;
    } catch {
      return false; // someone else changed it first
    }
  };

  const forget = (runId: string): void => {
    revisions.delete(runId);
    latest.delete(runId);
  };

  return {
    async create(run) {
      const stamped = stamp(run);
      // The mark first: a crash between the two leaves a mark the scan clears, never a run no scan finds.
      await kv.active.put(activeKey(run.runId), { workflow: run.workflow, since: o.now() });
      revisions.set(run.runId, await kv.runs.create(runKey(run.runId), stamped));
      latest.set(run.runId, stamped);
    },
    save(run) {
      const kept = latest.get(run.runId);
      return enqueue(run.runId, () =>
        write({
          ...stamp(run),
          ...(kept?.cancelRequested !== undefined ? { cancelRequested: kept.cancelRequested } : {}),
          ...(kept?.startKey !== undefined && run.startKey === undefined ? { startKey: kept.startKey } : {}),
          ...(kept?.runLimit !== undefined && run.runLimit === undefined ? { runLimit: kept.runLimit } : {}),
        }),
      );
    },
    async renewAll() {
      await Promise.all(
        [...latest.keys()].map((runId) =>
          enqueue(runId, async () => {
            const run = latest.get(runId);
            if (run) await write({ ...run, leaseUntil: o.now() + o.leaseMs, updatedAt: o.now() });
          }),
        ),
      );
    },
    takeOver,
    async reclaim(entry) {
      const { cancelRequested: _spent, ...value } = entry.value;
      if (!(await takeOver({ ...entry, value }))) return false;
      try {
        await kv.active.put(activeKey(value.runId), { workflow: value.workflow, since: o.now() });
      } catch (err) {
        forget(value.runId);
        throw err;
      }
      return true;
    },
    forget,
    get: (runId) => kv.runs.get(runKey(runId)),
    async active() {
      const out: TypedEntry<StoredRun>[] = [];
      for (const key of await kv.active.keys(ACTIVE_KEYS)) {
        const runId = key.slice("active.".length);
        const entry = await kv.runs.get(runKey(runId));
        if (entry && isUnfinished(entry.value)) out.push(entry);
        else if (entry) await kv.active.purge(key); // finished, but its mark survived a crash
        else if (await kv.active.get(key).then((m) => m !== undefined && m.value.since < o.now() - 2 * o.leaseMs)) await kv.active.purge(key); // its run was never created
      }
      return out;
    },
    held: () => [...latest.keys()],
    async giveUp(runId) {
      const entry = await kv.runs.get(runKey(runId)).catch(() => undefined);
      if (!entry || !isUnfinished(entry.value) || entry.value.coordinator !== o.owner) return;
      await kv.runs.update(entry.key, { ...entry.value, leaseUntil: 0, updatedAt: o.now() }, entry.revision).catch((err: unknown) => o.logger.debug({ err, runId }, "could not give the lease up; it expires on its own"));
    },
    async requestCancel(runId, reason) {
      for (let tries = 0; tries < 10; tries++) {
        const entry = await kv.runs.get(runKey(runId));
        if (!entry || !isUnfinished(entry.value) || entry.value.cancelRequested !== undefined) return entry;
        const value: StoredRun = { ...entry.value, cancelRequested: reason, updatedAt: o.now() };
        try {
          const revision = await kv.runs.update(runKey(runId), value, entry.revision);
          return { ...entry, value, revision };
        } catch (err) {
          o.logger.debug({ err, runId }, "run entry changed while recording a cancel request; reading it again");
        }
      }
      throw new Error(`the entry of run "${runId}" kept changing; the cancel request was not recorded`);
    },
  };
}
