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
 * keys in turn, age) and tries again when one of its attempts gives a limit back, and
 * every `pollMs` while any waits (another coordinator's release is seen that way).
 */
import { z } from "zod";
import type { Logger } from "../registry/types.js";
import type { Clock, TimerHandle } from "../support/clock.js";
import { createCoalescingPump } from "../support/coalescing-pump.js";
import type { TypedKv } from "../transport/fleet-port.js";
import { LimitQueue, type Waiter } from "../runtime/core/limit-queue.js";
import { describeWait, emptyLimitState, fits, limitId, limitName, nextChangeAt, release, renew, take, usedOf, type LimitRef, type LimitState } from "../runtime/core/limit-state.js";
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
  /** The last state read of each limit (waiting-for texts, gauges, the next try's order). */
  const seen = new Map<string, { ref: LimitRef; state: LimitState }>();
  let closed = false;
  const renewTimer = { handle: undefined as TimerHandle };

  /** Change one limit's entry by compare-and-set; `change` returns undefined to give up. Resolves to whether it wrote. */
  async function cas(ref: LimitRef, change: (s: LimitState) => LimitState | undefined): Promise<boolean> {
    const key = limitKvKey(ref);
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await o.store.get(key);
      const state = entry?.value ?? emptyLimitState();
      seen.set(limitId(ref), { ref, state });
      const next = change(state);
      if (next === undefined) return false;
      if (next === state) return true;
      try {
        if (entry) await o.store.update(key, next, entry.revision);
        else await o.store.create(key, next);
        seen.set(limitId(ref), { ref, state: next });
        return true;
      } catch (err) {
        // Another writer came first (or the entry was created meanwhile): read again and retry.
        o.log.debug({ err, key }, "limit write lost a compare-and-set race; trying again");
      }
    }
    throw new Error(`limit ${limitName(ref)}: ${CAS_TRIES} compare-and-set writes in a row lost a race`);
  }

  /** Take every limit of `w`, or none (those taken are given back when a later one is full). */
  async function takeAll(w: Waiter): Promise<boolean> {
    const done: LimitRef[] = [];
    for (const ref of w.limits) {
      const ok = await cas(ref, (s) => take(s, ref, w.holder, o.clock.now(), leaseMs));
      if (!ok) {
        for (const d of done) if (d.kind === "concurrency") await cas(d, (s) => release(s, w.holder));
        return false;
      }
      done.push(ref);
    }
    return true;
  }

  function granted(w: Waiter): void {
    const conc = w.limits.filter((l) => l.kind === "concurrency");
    const go = callbacks.get(w.holder);
    // Given up while its limits were being taken: give them back.
    if (go === undefined) {
      if (conc.length > 0) giveBack(w.holder, conc);
      return;
    }
    if (conc.length > 0) mine.set(w.holder, conc);
    callbacks.delete(w.holder);
    go();
  }

  async function refresh(): Promise<void> {
    const refs = new Map<string, LimitRef>();
    for (const w of queue.waiters()) for (const l of w.limits) refs.set(limitId(l), l);
    await Promise.all(
      [...refs.values()].map(async (ref) => {
        const entry = await o.store.get(limitKvKey(ref));
        seen.set(limitId(ref), { ref, state: entry?.value ?? emptyLimitState() });
      }),
    );
  }

  /** Let through what the fleet's limits have room for, in this coordinator's order. */
  async function pumpOnce(): Promise<void> {
    await refresh();
    const now = o.clock.now();
    // The order from the states just read (taken on a local copy); each then takes its limits for real.
    const local = new Map([...seen].map(([id, e]) => [id, { ...e }]));
    const stateOf = (ref: LimitRef): LimitState => local.get(limitId(ref))?.state ?? emptyLimitState();
    const order = queue.release(
      (w) => w.limits.every((ref) => fits(stateOf(ref), ref, w.holder, now)),
      (w) => {
        for (const ref of w.limits) local.set(limitId(ref), { ref, state: take(stateOf(ref), ref, w.holder, now, leaseMs) ?? stateOf(ref) });
        return true;
      },
    );
    for (const w of order) {
      if (closed) return;
      if (!callbacks.has(w.holder)) continue;
      if (await takeAll(w)) granted(w);
      else if (callbacks.has(w.holder)) queue.add(w);
    }
  }

  const pump = createCoalescingPump({
    clock: o.clock,
    pass: pumpOnce,
    nextPollInMs: () => {
      if (queue.size === 0) return undefined;
      const now = o.clock.now();
      let at = now + pollMs;
      for (const e of seen.values()) {
        const t = nextChangeAt(e.state, e.ref, now);
        if (t !== undefined && t < at) at = t;
      }
      return at - now;
    },
    onError: (err) => o.log.warn({ err }, "could not read or take task limits; waiting attempts try again shortly"),
  });

  async function renewAll(): Promise<void> {
    const byLimit = new Map<string, { ref: LimitRef; holders: string[] }>();
    for (const [holder, refs] of mine) {
      for (const ref of refs) {
        const id = limitId(ref);
        const e = byLimit.get(id) ?? { ref, holders: [] };
        e.holders.push(holder);
        byLimit.set(id, e);
      }
    }
    for (const { ref, holders } of byLimit.values()) {
      try {
        await cas(ref, (s) => {
          let next = s;
          for (const h of holders) next = renew(next, h, o.clock.now(), leaseMs) ?? next;
          return next;
        });
      } catch (err) {
        o.log.warn({ err, limit: limitName(ref) }, "could not renew task limit holdings; they lapse unless a later renewal gets through");
      }
    }
  }

  function scheduleRenew(): void {
    if (closed) return;
    renewTimer.handle = o.clock.setTimeout(() => {
      void renewAll().finally(scheduleRenew);
    }, Math.max(100, Math.floor(leaseMs / 3)));
  }
  scheduleRenew();

  function giveBack(holder: string, refs: LimitRef[]): void {
    void (async () => {
      for (const ref of refs) {
        try {
          await cas(ref, (s) => release(s, holder));
        } catch (err) {
          o.log.warn({ err, limit: limitName(ref), holder }, "could not give a task limit back; it is free once its lease lapses");
        }
      }
      if (queue.size > 0) pump.request();
    })();
  }

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
      if (refs) giveBack(holder, refs);
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
        for (const ref of conc) if (!(await cas(ref, (s) => renew(s, w.holder, o.clock.now(), leaseMs)))) missing = true;
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
      const stateOf = (ref: LimitRef): LimitState => seen.get(limitId(ref))?.state ?? emptyLimitState();
      const ref = w.limits.find((l) => !fits(stateOf(l), l, holder, now)) ?? w.limits[0]!;
      return describeWait(ref, usedOf(stateOf(ref), ref, now));
    },
    uses(): LimitUse[] {
      const now = o.clock.now();
      const waiting = new Map<string, number>();
      for (const w of queue.waiters()) for (const l of w.limits) waiting.set(limitId(l), (waiting.get(limitId(l)) ?? 0) + 1);
      return [...seen].map(([id, e]) => ({ id, ref: e.ref, used: usedOf(e.state, e.ref, now), waiting: waiting.get(id) ?? 0 }));
    },
    close() {
      closed = true;
      pump.close();
      if (renewTimer.handle !== undefined) o.clock.clearTimeout(renewTimer.handle);
      callbacks.clear();
    },
  };
}
