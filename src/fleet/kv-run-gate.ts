/**
 * Runs in flight per key, shared by a whole fleet (README "Traffic control"): a workflow's
 * `concurrency: { limit, key?, onLimit }` is one entry of the fleet's `runs` store per key
 * value (runtime/core/run-limit-state.ts), changed only by compare-and-set, so all
 * coordinators together never let more than `limit` runs of a key be in flight.
 *
 * nats-server 2.9.10 has no per-key TTL: each place (and each queue entry) carries its own
 * expiry, renewed every `leaseMs / 3` by the coordinator holding the run and swept by the
 * next write once it lapsed. A place is given back when its run ends (or is cancelled while
 * queued); a run taken over by another coordinator keeps its place (the new holder renews
 * it), and the lease outlives a takeover, so a coordinator's kill -9 never frees the place
 * of a run still in flight while the fleet lives on.
 *
 * A queued run is a pending run in the run store (durable: whoever takes it over queues it
 * again in its own place) plus its entry in the limit's queue. The coordinator holding it
 * tries to admit it when one of its own runs gives a place back and every `pollMs` while
 * any waits (another coordinator's release is seen that way); the queue's order (priority,
 * then age) is the fleet's, read from the entry. A run of `"cancel-in-progress"` queues
 * ahead of everything and has the oldest runs in flight cancelled (through the normal
 * cancel path) until it fits; `"drop"` refuses a start that does not fit at once.
 */
import { z } from "zod";
import type { OnRunLimit } from "../dsl/workflow.js";
import { RunLimitReachedError } from "../errors/limits.js";
import type { Logger } from "../registry/types.js";
import type { Clock, TimerHandle } from "../support/clock.js";
import { createCoalescingPump } from "../support/coalescing-pump.js";
import type { TypedKv } from "../transport/fleet-port.js";
import {
  admitRun,
  describeRunWait,
  emptyRunLimitState,
  enqueueRun,
  holdAnyway,
  holds,
  inFlight,
  oldestHolders,
  queuedAhead,
  releaseRun,
  runLimitName,
  type RunLimitRef,
  type RunLimitState,
} from "../runtime/core/run-limit-state.js";

export const runLimitStateSchema = z.object({
  holders: z.record(z.string(), z.object({ until: z.number(), since: z.number() })),
  queue: z.array(z.object({ runId: z.string(), priority: z.number(), at: z.number(), until: z.number() })),
});

/** Where a workflow's limit at one key lives: `runlimit.<workflow and key, base64url>` (any key value is a valid KV key). */
export function runLimitKvKey(ref: Pick<RunLimitRef, "workflow" | "key">): string {
  return `runlimit.${Buffer.from(`${ref.workflow}\u0000${ref.key}`).toString("base64url")}`;
}

/** How a run meets its workflow's limit. */
export interface RunAdmission {
  ref: RunLimitRef;
  onLimit: OnRunLimit;
  /** The run's priority, 1 (first) to 5 (last). */
  priority: number;
}

export interface KvRunGate {
  /**
   * A new start: true when it takes a place now, false when it is queued (its entry is in
   * the limit's queue: `wait` next). Throws RunLimitReachedError when `onLimit` is "drop" and
   * the key is full.
   */
  start(runId: string, a: RunAdmission, at: number): Promise<boolean>;
  /** Wait here for a place for a queued run this coordinator holds; `go` once it has one. */
  wait(runId: string, a: RunAdmission, at: number, go: () => void): void;
  /** A pending run taken over: true when it holds a place already (or takes one now), else it is queued again in its place (`wait` next). */
  requeue(runId: string, a: RunAdmission, at: number): Promise<boolean>;
  /** A run in flight driven here (begun, taken over, retried): keep its place alive. */
  hold(runId: string, ref: RunLimitRef): Promise<void>;
  /** Stop waiting here (cancelled, lost, closing); its queue entry stays unless `release`d. */
  stopWaiting(runId: string): void;
  /** The run ended, or was cancelled while queued: give its place or queue entry back. */
  release(runId: string, ref?: RunLimitRef): void;
  /** Another coordinator holds the run now: stop renewing its place. */
  forget(runId: string): void;
  /** What a queued run waits for, read from the store now ("queued: workflow limit signup[ann] 1/1 in use, 0 queued ahead"); undefined once it holds a place. */
  describe(runId: string, ref: RunLimitRef): Promise<string | undefined>;
  close(): void;
}

export interface KvRunGateOptions {
  store: TypedKv<RunLimitState>;
  clock: Clock;
  log: Logger;
  /** Cancel a run through the fleet's normal cancel path ("cancel-in-progress"). */
  cancel(runId: string, reason: string): Promise<void>;
  /** How long a place or queue entry lasts without renewal. Default 45000 ms (longer than a run's takeover). */
  leaseMs?: number;
  /** How often waiting runs try again while any waits. Default 250 ms. */
  pollMs?: number;
}

interface Waiter {
  a: RunAdmission;
  at: number;
  go: () => void;
  /** Runs this waiter had cancelled already ("cancel-in-progress"). */
  cancelled: Set<string>;
}

const CAS_TRIES = 20;

export function createKvRunGate(o: KvRunGateOptions): KvRunGate {
  const leaseMs = o.leaseMs ?? 45_000;
  const pollMs = o.pollMs ?? 250;
  /** Runs in flight driven here, and their limit. */
  const held = new Map<string, RunLimitRef>();
  /** Queued runs held here. */
  const waiters = new Map<string, Waiter>();
  let closed = false;
  let renewTimer: TimerHandle = undefined;

  const entryOf = (runId: string, a: RunAdmission, at: number): { runId: string; priority: number; at: number } => ({
    runId,
    priority: a.onLimit === "cancel-in-progress" ? 0 : a.priority,
    at,
  });

  /** Change the limit's entry by compare-and-set; `change` returns undefined to give up. Resolves to the state written (or kept), or undefined. */
  async function cas(ref: RunLimitRef, change: (s: RunLimitState, now: number) => RunLimitState | undefined): Promise<RunLimitState | undefined> {
    const key = runLimitKvKey(ref);
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await o.store.get(key);
      const state = entry?.value ?? emptyRunLimitState();
      const next = change(state, o.clock.now());
      if (next === undefined) return undefined;
      if (next === state) return state;
      try {
        if (entry) await o.store.update(key, next, entry.revision);
        else await o.store.create(key, next);
        return next;
      } catch (err) {
        o.log.debug({ err, key }, "run limit write lost a compare-and-set race; trying again");
      }
    }
    throw new Error(`run limit ${runLimitName(ref)}: ${CAS_TRIES} compare-and-set writes in a row lost a race`);
  }

  const cancelReason = (runId: string, ref: RunLimitRef): string =>
    `cancelled by run ${runId}: workflow "${ref.workflow}" allows ${ref.limit} run(s) in flight for key "${ref.key}" (concurrency.onLimit "cancel-in-progress")`;

  const pump = createCoalescingPump({
    clock: o.clock,
    pass: pumpOnce,
    nextPollInMs: () => (waiters.size > 0 ? pollMs : undefined),
    onError: (err) => o.log.warn({ err }, "could not read or take run limits; queued runs try again shortly"),
  });

  /** Try to admit every run waiting here, in the fleet's order. */
  async function pumpOnce(): Promise<void> {
    const order = [...waiters].sort(([ra, a], [rb, b]) => {
      const x = entryOf(ra, a.a, a.at);
      const y = entryOf(rb, b.a, b.at);
      return x.priority - y.priority || x.at - y.at || (ra < rb ? -1 : 1);
    });
    for (const [runId, w] of order) {
      if (closed) return;
      if (waiters.get(runId) !== w) continue;
      const entry = entryOf(runId, w.a, w.at);
      let seen: RunLimitState | undefined;
      const admitted = await cas(w.a.ref, (s, now) => {
        seen = s;
        const next = admitRun(s, w.a.ref, entry, now, leaseMs);
        // Not admitted: make sure its entry is queued (it may have lapsed while no one held the run).
        if (next === undefined) return s.queue.some((q) => q.runId === runId && q.until > now) ? undefined : enqueueRun(s, entry, now, leaseMs);
        return next;
      });
      if (admitted !== undefined && holds(admitted, runId, o.clock.now())) {
        if (waiters.get(runId) !== w) {
          // Given up (cancelled) while it was being admitted: give the place back.
          void cas(w.a.ref, (s) => releaseRun(s, runId)).catch((err: unknown) => o.log.warn({ err, runId }, "could not give a run limit place back; it is free once its lease lapses"));
          continue;
        }
        waiters.delete(runId);
        held.set(runId, w.a.ref);
        w.go();
        continue;
      }
      if (w.a.onLimit === "cancel-in-progress" && seen !== undefined) {
        const now = o.clock.now();
        const over = inFlight(seen, now) + queuedAhead(seen, entry, now) - w.a.ref.limit + 1;
        const targets = oldestHolders(seen, now).filter((id) => !w.cancelled.has(id)).slice(0, Math.max(0, over - countCancelling(seen, w, now)));
        for (const target of targets) {
          w.cancelled.add(target);
          o.log.info({ runId, cancelled: target, limit: runLimitName(w.a.ref) }, "cancelling the oldest run in flight of the key to make room (concurrency.onLimit cancel-in-progress)");
          void o.cancel(target, cancelReason(runId, w.a.ref)).catch((err: unknown) => {
            w.cancelled.delete(target);
            o.log.warn({ err, runId, target }, "could not cancel the oldest run of the key; trying again");
          });
        }
      }
    }
  }

  /** Runs in flight this waiter has cancelled already and that still hold their place. */
  function countCancelling(s: RunLimitState, w: Waiter, now: number): number {
    let n = 0;
    for (const id of w.cancelled) if (holds(s, id, now)) n++;
    return n;
  }

  async function renewAll(): Promise<void> {
    const byLimit = new Map<string, { ref: RunLimitRef; held: string[]; queued: [string, Waiter][] }>();
    const group = (ref: RunLimitRef): { ref: RunLimitRef; held: string[]; queued: [string, Waiter][] } => {
      const k = runLimitKvKey(ref);
      let g = byLimit.get(k);
      if (!g) byLimit.set(k, (g = { ref, held: [], queued: [] }));
      return g;
    };
    for (const [runId, ref] of held) group(ref).held.push(runId);
    for (const [runId, w] of waiters) group(w.a.ref).queued.push([runId, w]);
    for (const g of byLimit.values()) {
      try {
        await cas(g.ref, (s, now) => {
          let next = s;
          for (const runId of g.held) if (held.has(runId)) next = holdAnyway(next, runId, now, leaseMs);
          for (const [runId, w] of g.queued) if (waiters.get(runId) === w && !holds(next, runId, now)) next = enqueueRun(next, entryOf(runId, w.a, w.at), now, leaseMs);
          return next;
        });
      } catch (err) {
        o.log.warn({ err, limit: runLimitName(g.ref) }, "could not renew run limit places; they lapse unless a later renewal gets through");
      }
    }
  }

  function scheduleRenew(): void {
    if (closed) return;
    renewTimer = o.clock.setTimeout(() => {
      void renewAll().finally(scheduleRenew);
    }, Math.max(100, Math.floor(leaseMs / 3)));
  }
  scheduleRenew();

  return {
    async start(runId, a, at) {
      const entry = entryOf(runId, a, at);
      let full: RunLimitState | undefined;
      const written = await cas(a.ref, (s, now) => {
        const next = admitRun(s, a.ref, entry, now, leaseMs);
        if (next !== undefined) return next;
        if (a.onLimit === "drop") {
          full = s;
          return undefined;
        }
        return enqueueRun(s, entry, now, leaseMs);
      });
      if (written === undefined) {
        o.log.info({ runId, limit: runLimitName(a.ref), inFlight: full ? inFlight(full, o.clock.now()) : undefined }, "start dropped: the key is full (concurrency.onLimit drop)");
        throw new RunLimitReachedError(a.ref.workflow, a.ref.key, a.ref.limit);
      }
      if (holds(written, runId, o.clock.now())) {
        held.set(runId, a.ref);
        return true;
      }
      return false;
    },
    wait(runId, a, at, go) {
      if (closed) return;
      waiters.set(runId, { a, at, go, cancelled: new Set() });
      pump.request();
    },
    async requeue(runId, a, at) {
      const entry = entryOf(runId, a, at);
      const written = await cas(a.ref, (s, now) => admitRun(s, a.ref, entry, now, leaseMs) ?? enqueueRun(s, entry, now, leaseMs));
      if (written !== undefined && holds(written, runId, o.clock.now())) {
        held.set(runId, a.ref);
        return true;
      }
      return false;
    },
    async hold(runId, ref) {
      held.set(runId, ref);
      await cas(ref, (s, now) => holdAnyway(s, runId, now, leaseMs));
    },
    stopWaiting(runId) {
      waiters.delete(runId);
    },
    release(runId, ref) {
      const r = ref ?? held.get(runId) ?? waiters.get(runId)?.a.ref;
      held.delete(runId);
      waiters.delete(runId);
      if (r === undefined) return;
      void cas(r, (s) => releaseRun(s, runId))
        .catch((err: unknown) => o.log.warn({ err, runId, limit: runLimitName(r) }, "could not give a run limit place back; it is free once its lease lapses"))
        .finally(() => {
          if (waiters.size > 0) pump.request();
        });
    },
    forget(runId) {
      held.delete(runId);
      waiters.delete(runId);
    },
    async describe(runId, ref) {
      const s = (await o.store.get(runLimitKvKey(ref)))?.value ?? emptyRunLimitState();
      const now = o.clock.now();
      if (holds(s, runId, now)) return undefined;
      return describeRunWait(s, ref, runId, now);
    },
    close() {
      closed = true;
      pump.close();
      if (renewTimer !== undefined) o.clock.clearTimeout(renewTimer);
      waiters.clear();
      held.clear();
    },
  };
}
