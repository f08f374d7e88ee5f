/**
 * Runs in flight per key of a workflow's `concurrency` on a fleet (README "Traffic
 * control"), as a plain value: one per workflow and key value, stored in a KV entry and
 * changed only by compare-and-set (src/fleet/kv-run-gate.ts). Pure: every function takes
 * the time it judges at.
 *
 * - `holders`: the runs in flight, each with its own expiry (a lease: nats-server 2.9.10
 *   has no per-key TTL), renewed by the coordinator driving the run and given back when
 *   the run ends. A holding whose lease lapsed (its coordinator died and nobody took the
 *   run over in time) counts no more and is swept by the next write.
 * - `queue`: runs waiting for a place, ordered by priority (1 first), then age. An entry
 *   carries an expiry too, renewed by the coordinator holding the queued run; a lapsed one
 *   is skipped (and swept) until the run's new holder renews it again. A run of
 *   `onLimit: "cancel-in-progress"` waits with priority 0: it takes the place of the run it
 *   cancelled before anything queued.
 */

/** One workflow's limit at one key value. */
export interface RunLimitRef {
  workflow: string;
  /** The key value ("" when the workflow's concurrency has no key). */
  key: string;
  limit: number;
}

export interface RunHolding {
  /** Lease expiry (epoch ms). */
  until: number;
  /** When the run took its place (the oldest is cancelled first by "cancel-in-progress"). */
  since: number;
}

export interface QueuedRunEntry {
  runId: string;
  /** 0 (a run cancelling its way in), then 1 (first) to 5 (last). */
  priority: number;
  /** When the run was queued (epoch ms): FIFO within a priority. */
  at: number;
  /** Lease expiry (epoch ms). */
  until: number;
}

export interface RunLimitState {
  holders: Record<string, RunHolding>;
  queue: QueuedRunEntry[];
}

export const emptyRunLimitState = (): RunLimitState => ({ holders: {}, queue: [] });

/** How the limit is named to people: `signup[user-7]` (no key: the workflow alone). */
export function runLimitName(ref: Pick<RunLimitRef, "workflow" | "key">): string {
  return ref.key === "" ? ref.workflow : `${ref.workflow}[${ref.key}]`;
}

const before = (a: Pick<QueuedRunEntry, "priority" | "at" | "runId">, b: Pick<QueuedRunEntry, "priority" | "at" | "runId">): boolean =>
  a.priority !== b.priority ? a.priority < b.priority : a.at !== b.at ? a.at < b.at : a.runId < b.runId;

/** The state without lapsed holdings and queue entries (a new object when anything changed, else `s`). */
export function sweepRunLimit(s: RunLimitState, now: number): RunLimitState {
  const lapsed = Object.entries(s.holders).filter(([, h]) => h.until <= now);
  const queue = s.queue.some((q) => q.until <= now) ? s.queue.filter((q) => q.until > now) : s.queue;
  if (lapsed.length === 0 && queue === s.queue) return s;
  const holders = { ...s.holders };
  for (const [runId] of lapsed) delete holders[runId];
  return { holders, queue };
}

/** Runs in flight at `now` (holdings in force). */
export function inFlight(s: RunLimitState, now: number): number {
  let n = 0;
  for (const h of Object.values(s.holders)) if (h.until > now) n++;
  return n;
}

/** Whether `runId` holds a place at `now`. */
export const holds = (s: RunLimitState, runId: string, now: number): boolean => (s.holders[runId]?.until ?? 0) > now;

/** Live queue entries ordered before `entry` (not counting `entry`'s own run). */
export function queuedAhead(s: RunLimitState, entry: Pick<QueuedRunEntry, "priority" | "at" | "runId">, now: number): number {
  let n = 0;
  for (const q of s.queue) if (q.runId !== entry.runId && q.until > now && before(q, entry)) n++;
  return n;
}

/**
 * `entry`'s run takes a place at `now` if the limit has room for it behind the runs queued
 * ahead of it (leaving the queue, holding until `now + leaseMs`); undefined when it must
 * wait. A run that holds a place already keeps it.
 */
export function admitRun(s: RunLimitState, ref: RunLimitRef, entry: Pick<QueuedRunEntry, "priority" | "at" | "runId">, now: number, leaseMs: number): RunLimitState | undefined {
  const swept = sweepRunLimit(s, now);
  if (holds(swept, entry.runId, now)) return swept;
  if (inFlight(swept, now) + queuedAhead(swept, entry, now) >= ref.limit) return undefined;
  return { holders: { ...swept.holders, [entry.runId]: { until: now + leaseMs, since: now } }, queue: swept.queue.filter((q) => q.runId !== entry.runId) };
}

/** The state with `entry` queued (a run queued already keeps its place; its lease is renewed). */
export function enqueueRun(s: RunLimitState, entry: Omit<QueuedRunEntry, "until">, now: number, leaseMs: number): RunLimitState {
  const swept = sweepRunLimit(s, now);
  const kept = swept.queue.find((q) => q.runId === entry.runId);
  const next: QueuedRunEntry = kept ? { ...kept, priority: Math.min(kept.priority, entry.priority), until: now + leaseMs } : { ...entry, until: now + leaseMs };
  return { holders: swept.holders, queue: [...swept.queue.filter((q) => q.runId !== entry.runId), next] };
}

/**
 * The state with `runId` holding a place until `now + leaseMs`, whatever the room: how a
 * coordinator renews the place of a run in flight, and keeps one for a run it took over
 * (the run is in flight either way; a place that lapsed and was swept is counted again).
 */
export function holdAnyway(s: RunLimitState, runId: string, now: number, leaseMs: number): RunLimitState {
  const swept = sweepRunLimit(s, now);
  return { holders: { ...swept.holders, [runId]: { until: now + leaseMs, since: swept.holders[runId]?.since ?? now } }, queue: swept.queue.filter((q) => q.runId !== runId) };
}

/** The state with `runId` gone from it (its run ended, or was cancelled while queued); `s` when it was not there. */
export function releaseRun(s: RunLimitState, runId: string): RunLimitState {
  const held = runId in s.holders;
  const queued = s.queue.some((q) => q.runId === runId);
  if (!held && !queued) return s;
  const holders = { ...s.holders };
  delete holders[runId];
  return { holders, queue: queued ? s.queue.filter((q) => q.runId !== runId) : s.queue };
}

/** Runs in flight, oldest first (the ones "cancel-in-progress" cancels). */
export function oldestHolders(s: RunLimitState, now: number): string[] {
  return Object.entries(s.holders)
    .filter(([, h]) => h.until > now)
    .sort(([a, x], [b, y]) => x.since - y.since || (a < b ? -1 : 1))
    .map(([runId]) => runId);
}

/** What a queued run waits for: `queued: workflow limit signup[user-7] 1/1 in use, 0 queued ahead`. */
export function describeRunWait(s: RunLimitState, ref: RunLimitRef, runId: string, now: number): string {
  const own = s.queue.find((q) => q.runId === runId);
  const ahead = own ? queuedAhead(s, own, now) : s.queue.filter((q) => q.until > now).length;
  return `queued: workflow limit ${runLimitName(ref)} ${inFlight(s, now)}/${ref.limit} in use, ${ahead} queued ahead`;
}
