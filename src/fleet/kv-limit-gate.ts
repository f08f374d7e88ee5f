/**
 * Task limits shared by a whole fleet (README "Traffic control"): every limit's state
 * (runtime/core/limit-state.ts) is one entry of the fleet's `runs` store, changed only by
 * compare-and-set, so all coordinators together never let more than `limit` attempts of a
 * key hold it. nats-server 2.9.10 has no per-key TTL: each holding carries its own expiry
 * (a lease), renewed by the coordinator driving the attempt's run every `leaseMs / 3`, and
 * swept by whoever writes the entry next once it lapsed — so the slots of a coordinator
 * that died are free again within the lease unless another coordinator took its runs over
 * (then it renews them: the attempts are still in flight).
 *
 * Each coordinator keeps the attempts of its own runs that wait (limit-queue.ts: priority,
 * keys in turn, age). One pass at a time (support/coalescing-pump.ts) writes each limit it
 * touches ONCE (runtime/core/limit-batch.ts): the holdings given back since the last pass,
 * the leases due for renewal and the takes of every waiter that fits, so a burst of
 * arrivals or reports costs one compare-and-set per limit, not one per attempt. A pass
 * starts at once when none runs (a waiter that fits never waits for a timer) and writes
 * against the revision this coordinator last wrote or read: with room for the whole
 * batch it needs no read first; a lost race reads and tries again. While any attempt
 * waits, a pass also runs every `pollMs` (another coordinator's release is seen that way).
 */
import { z } from "zod";
import type { Logger } from "../registry/types.js";
import type { Clock, TimerHandle } from "../support/clock.js";
import { createCoalescingPump } from "../support/coalescing-pump.js";
import type { TypedKv } from "../transport/fleet-port.js";
import { applyBatch, planTakes, settleBatch, type LimitBatch } from "../runtime/core/limit-batch.js";
import { LimitQueue, type Waiter } from "../runtime/core/limit-queue.js";
import { describeWait, emptyLimitState, fits, limitId, limitName, nextChangeAt, sweepLimit, usedOf, type LimitRef, type LimitState } from "../runtime/core/limit-state.js";
import type { LimitUse } from "../runtime/core/limits-table.js";
import type { LimitGate } from "../runtime/shell/limit-gate.js";

export const limitStateSchema = z.object({ holders: z.record(z.string(), z.number()), starts: z.array(z.number()) });

/** Where a limit's state is stored: `limit.c.<name>` / `limit.r.<name>`, the name base64url (any key value is a valid KV key). */
export function limitKvKey(ref: Pick<LimitRef, "kind" | "scope" | "key">): string {
  return `limit.${ref.kind === "concurrency" ? "c" : "r"}.${Buffer.from(limitName(ref)).toString("base64url")}`;
}

export interface KvLimitGateOptions {
  store: TypedKv<LimitState>;
  clock: Clock;
  log: Logger;
  /** How long a holding lasts without renewal. Default 45000 ms (longer than a run's takeover). */
  leaseMs?: number;
  /** How often waiters try again while any waits. Default 250 ms. */
  pollMs?: number;
  /**
   * How long a holding that ended may wait to be given back with the next pass while no
   * attempt waits here (a release rides along with the next take; a burst of reports is one
   * write). Another coordinator waiting on the limit sees the slot this much later at most.
   * Default 50 ms.
   */
  releaseDelayMs?: number;
}

/** Holdings to give back with the next pass: concurrency holders, and rate starts (by their time) of attempts that never started. */
interface GiveBack {
  ref: LimitRef;
  holders: Set<string>;
  unstart: number[];
}

/** How often one write is tried again after losing a compare-and-set race. */
const CAS_TRIES = 20;

export function createKvLimitGate(o: KvLimitGateOptions): LimitGate {
  const leaseMs = o.leaseMs ?? 45_000;
  const pollMs = o.pollMs ?? 250;
  const queue = new LimitQueue();
  const callbacks = new Map<string, () => void>();
  /** Holdings this coordinator keeps alive: holder -> its concurrency limits. */
  const mine = new Map<string, LimitRef[]>();
  /**
   * Each limit's entry as this coordinator last read or wrote it: the next write's expected
   * revision (undefined: absent), the order's guess, waiting-for texts and gauges.
   */
  const known = new Map<string, { ref: LimitRef; state: LimitState; revision: number | undefined }>();
  /** Holdings that ended, given back by the next pass: limit id -> the limit and its holders. */
  const toRelease = new Map<string, GiveBack>();
  let renewDue = false;
  let closed = false;
  const renewTimer = { handle: undefined as TimerHandle };
  let releaseTimer: TimerHandle = undefined;
  const releaseDelayMs = o.releaseDelayMs ?? 50;

  async function read(ref: LimitRef): Promise<{ ref: LimitRef; state: LimitState; revision: number | undefined }> {
    const entry = await o.store.get(limitKvKey(ref));
    const k = { ref, state: entry?.value ?? emptyLimitState(), revision: entry?.revision };
    known.set(limitId(ref), k);
    return k;
  }

  /**
   * Write one limit's entry by compare-and-set: `change` maps the state to the next one (the
   * same object: nothing to write). The first try builds on the state last known here, so a
   * coordinator alone on a limit writes without reading; a lost race reads and tries again.
   * "Nothing to write" is only believed of a state just read (a stale one may lack a holding
   * another coordinator wrote, which a renewal or release must see).
   */
  async function write(ref: LimitRef, change: (s: LimitState, now: number) => LimitState): Promise<void> {
    const key = limitKvKey(ref);
    let cached = known.get(limitId(ref));
    for (let i = 0; i < CAS_TRIES; i++) {
      const k = cached ?? (await read(ref));
      const next = change(k.state, o.clock.now());
      if (next === k.state) {
        if (cached === undefined) return;
        cached = undefined;
        continue;
      }
      cached = undefined;
      try {
        const revision = k.revision === undefined ? await o.store.create(key, next) : await o.store.update(key, next, k.revision);
        known.set(limitId(ref), { ref, state: next, revision });
        return;
      } catch (err) {
        // Another writer came first (or the entry was created meanwhile): read again and retry.
        o.log.debug({ err, key }, "limit write lost a compare-and-set race; trying again");
      }
    }
    throw new Error(`limit ${limitName(ref)}: ${CAS_TRIES} compare-and-set writes in a row lost a race`);
  }

  /** Give `holder`'s holdings of `refs` back with the next pass; a rate start only when its time is known (`at`: limit id -> time written). */
  function giveBackLater(holder: string, refs: readonly LimitRef[], at?: ReadonlyMap<string, number>): void {
    for (const ref of refs) {
      const id = limitId(ref);
      const t = at?.get(id);
      if (ref.kind === "rate" && t === undefined) continue;
      let r = toRelease.get(id);
      if (!r) toRelease.set(id, (r = { ref, holders: new Set(), unstart: [] }));
      if (ref.kind === "concurrency") r.holders.add(holder);
      else r.unstart.push(t!);
    }
  }

  /** The state last known here with this pass's releases given back (what the order is judged on). */
  function guessOf(ref: LimitRef, releases: ReadonlyMap<string, { holders: Set<string> }>): LimitState {
    const s = known.get(limitId(ref))?.state ?? emptyLimitState();
    const gone = releases.get(limitId(ref))?.holders;
    if (!gone || gone.size === 0 || ref.kind !== "concurrency") return s;
    const holders = { ...s.holders };
    for (const h of gone) delete holders[h];
    return { holders, starts: s.starts };
  }

  /**
   * Write this pass's batches: each limit once, with its releases, renewals and the takes of
   * `order`'s waiters that name it, all limits side by side. Resolves to who took each limit.
   */
  async function writeBatches(
    order: readonly Waiter[],
    releases: ReadonlyMap<string, GiveBack>,
    renewals: ReadonlyMap<string, { ref: LimitRef; holders: Set<string> }>,
  ): Promise<{ took: Map<string, Set<string>>; at: Map<string, number> }> {
    const batches = new Map<string, LimitBatch & { take: string[] }>();
    const batchOf = (ref: LimitRef): LimitBatch & { take: string[] } => {
      const id = limitId(ref);
      let b = batches.get(id);
      const r = releases.get(id);
      if (!b) batches.set(id, (b = { ref, release: r?.holders ?? new Set(), unstart: r?.unstart ?? [], renew: renewals.get(id)?.holders ?? new Set(), take: [] }));
      return b;
    };
    for (const w of order) for (const ref of w.limits) batchOf(ref).take.push(w.holder);
    for (const r of [...releases.values(), ...renewals.values()]) batchOf(r.ref);
    const took = new Map<string, Set<string>>();
    const at = new Map<string, number>();
    await Promise.all(
      [...batches].map(async ([id, b]) => {
        let result: ReturnType<typeof applyBatch> | undefined;
        try {
          await write(b.ref, (s, now) => (result = applyBatch(s, b, now, leaseMs)).state);
          took.set(id, new Set(result?.took ?? []));
          if (result) at.set(id, result.at);
        } catch (err) {
          // Nothing of this batch was written: its releases wait for the next pass, its takers wait on.
          const r = releases.get(id);
          if (r) {
            for (const h of r.holders) giveBackLater(h, [b.ref]);
            for (const t of r.unstart) giveBackLater("", [b.ref], new Map([[id, t]]));
          }
          took.set(id, new Set());
          o.log.warn({ err, limit: limitName(b.ref) }, "could not write a task limit; its waiting attempts try again shortly and holdings given back are retried");
        }
      }),
    );
    return { took, at };
  }

  /** One pass: give back, renew and take, each limit written once; then let through who took all of theirs. */
  async function pumpOnce(): Promise<void> {
    // Read afresh every limit whose last known state has no room for all that wait on it (others may have given slots back).
    const waitingOn = new Map<string, { ref: LimitRef; n: number }>();
    for (const w of queue.waiters()) {
      for (const ref of w.limits) {
        const e = waitingOn.get(limitId(ref));
        if (e) e.n++;
        else waitingOn.set(limitId(ref), { ref, n: 1 });
      }
    }
    const now0 = o.clock.now();
    await Promise.all(
      [...waitingOn].map(async ([id, { ref, n }]) => {
        const k = known.get(id);
        if (k !== undefined && usedOf(sweepLimit(k.state, ref, now0), ref, now0) + n <= ref.limit) return;
        await read(ref);
      }),
    );
    if (closed) return;
    const releases = new Map(toRelease);
    toRelease.clear();
    const renewals = new Map<string, { ref: LimitRef; holders: Set<string> }>();
    if (renewDue) {
      renewDue = false;
      for (const [holder, refs] of mine) {
        for (const ref of refs) {
          const id = limitId(ref);
          let r = renewals.get(id);
          if (!r) renewals.set(id, (r = { ref, holders: new Set() }));
          r.holders.add(holder);
        }
      }
    }
    const order = planTakes(queue, (ref) => guessOf(ref, releases), o.clock.now()).filter((w) => callbacks.has(w.holder));
    // Every limit at once: the order was judged on the states last seen, so a waiter misses one of its limits only
    // when another coordinator came first; what it took of the others is given back by the next pass.
    const { took, at } = await writeBatches(order, releases, renewals);
    const { went, left, giveBack } = settleBatch(order, took);
    for (const g of giveBack) giveBackLater(g.holder, g.refs, at);
    for (const w of left) if (callbacks.has(w.holder)) queue.add(w);
    for (const w of went) granted(w, at);
    // Holdings of waiters that went only part of the way, or were given up meanwhile: give them back now.
    if (toRelease.size > 0 && !closed) pump.request();
  }

  function granted(w: Waiter, at: ReadonlyMap<string, number>): void {
    const conc = w.limits.filter((l) => l.kind === "concurrency");
    const go = callbacks.get(w.holder);
    // Given up while its limits were being taken (it never starts): give them back.
    if (go === undefined) {
      giveBackLater(w.holder, w.limits, at);
      return;
    }
    if (conc.length > 0) mine.set(w.holder, conc);
    callbacks.delete(w.holder);
    go();
  }

  const pump = createCoalescingPump({
    clock: o.clock,
    pass: pumpOnce,
    nextPollInMs: () => {
      if (queue.size === 0) return undefined;
      const now = o.clock.now();
      let at = now + pollMs;
      for (const e of known.values()) {
        const t = nextChangeAt(e.state, e.ref, now);
        if (t !== undefined && t < at) at = t;
      }
      return at - now;
    },
    onError: (err) => o.log.warn({ err }, "could not read or take task limits; waiting attempts try again shortly"),
  });

  function scheduleRenew(): void {
    if (closed) return;
    renewTimer.handle = o.clock.setTimeout(() => {
      renewDue = true;
      pump.request();
      scheduleRenew();
    }, Math.max(100, Math.floor(leaseMs / 3)));
  }
  scheduleRenew();

  return {
    request(w, go) {
      if (closed) return;
      callbacks.set(w.holder, go);
      queue.add(w);
      pump.request();
    },
    release(holder) {
      callbacks.delete(holder);
      queue.remove(holder);
      const refs = mine.get(holder);
      mine.delete(holder);
      if (!refs) return;
      giveBackLater(holder, refs);
      // Attempts wait here: the slot may be theirs, give it back now. Else it rides along with the next pass.
      if (queue.size > 0) {
        pump.request();
        return;
      }
      releaseTimer ??= o.clock.setTimeout(() => {
        releaseTimer = undefined;
        pump.request();
      }, releaseDelayMs);
    },
    adopt(w, onMissing) {
      const conc = w.limits.filter((l) => l.kind === "concurrency");
      if (conc.length === 0 || mine.has(w.holder)) return;
      mine.set(w.holder, conc);
      // A holding outlives a run's takeover, so an attempt that was sent still has one: keep it alive. One
      // without (its coordinator died before the attempt got its limits, so it was never sent) takes nothing:
      // the attempt is found missing from the work queue and dispatched again, through the limits.
      void (async () => {
        let missing = false;
        for (const ref of conc) {
          let lapsed = false;
          await write(ref, (s, now) => {
            const r = applyBatch(s, { ref, release: new Set(), renew: new Set([w.holder]), take: [] }, now, leaseMs);
            lapsed = r.lapsed.length > 0;
            return r.state;
          });
          if (lapsed) missing = true;
        }
        if (!missing) return;
        o.log.info({ holder: w.holder }, "a taken-over attempt holds no task limit: it was never sent, so it is dispatched again");
        mine.delete(w.holder);
        onMissing?.();
      })().catch((err: unknown) => o.log.warn({ err, holder: w.holder }, "could not renew a taken-over attempt's task limits"));
    },
    forget(holder) {
      mine.delete(holder);
    },
    waitingFor(holder) {
      const w = queue.get(holder);
      if (!w) return undefined;
      const now = o.clock.now();
      const stateOf = (ref: LimitRef): LimitState => known.get(limitId(ref))?.state ?? emptyLimitState();
      const ref = w.limits.find((l) => !fits(stateOf(l), l, holder, now)) ?? w.limits[0]!;
      return describeWait(ref, usedOf(stateOf(ref), ref, now));
    },
    uses(): LimitUse[] {
      const now = o.clock.now();
      const waiting = new Map<string, number>();
      for (const w of queue.waiters()) for (const l of w.limits) waiting.set(limitId(l), (waiting.get(limitId(l)) ?? 0) + 1);
      return [...known].map(([id, e]) => ({ id, ref: e.ref, used: usedOf(e.state, e.ref, now), waiting: waiting.get(id) ?? 0 }));
    },
    close() {
      closed = true;
      pump.close();
      if (renewTimer.handle !== undefined) o.clock.clearTimeout(renewTimer.handle);
      if (releaseTimer !== undefined) o.clock.clearTimeout(releaseTimer);
      callbacks.clear();
      // Holdings that ended but were not given back yet: one last try (else they are free once their leases lapse).
      for (const { ref, holders, unstart } of toRelease.values()) {
        void write(ref, (s, now) => applyBatch(s, { ref, release: holders, unstart, renew: new Set(), take: [] }, now, leaseMs).state).catch((err: unknown) =>
          o.log.debug({ err, limit: limitName(ref) }, "could not give task limits back while closing; they are free once their leases lapse"),
        );
      }
      toRelease.clear();
    },
  };
}
