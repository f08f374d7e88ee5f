/**
 * The state of one limit at one key value (README "Traffic control"), as a plain value so the
 * same rules serve the embedded engine (held in memory) and the fleet (stored in a KV entry
 * and changed by compare-and-set). Pure: every function takes the time it judges at.
 *
 * - A concurrency limit counts holdings. Each holding carries its own expiry (a lease):
 *   nats-server 2.9.10 has no per-key TTL, so a holder that died (kill -9) stops renewing
 *   and its slot is swept once the lease ran out.
 * - A rate limit counts starts in a sliding window of `periodMs`: a start at `now` is
 *   allowed while fewer than `limit` starts lie in `(now - periodMs, now]`, so no burst of
 *   2 × limit straddles a window's edge. Starts are never released.
 */

/** One limit an attempt must pass: the limit's id (`scope[key]`) and its numbers. */
export type LimitRef =
  | { kind: "concurrency"; scope: string; key: string; limit: number }
  | { kind: "rate"; scope: string; key: string; limit: number; periodMs: number };

/** Holdings (holder -> lease expiry, epoch ms) of a concurrency limit, and starts (epoch ms, ascending) of a rate limit. */
export interface LimitState {
  holders: Record<string, number>;
  starts: number[];
}

export const emptyLimitState = (): LimitState => ({ holders: {}, starts: [] });

/** How a limit is named to people and in stores: `llm/complete[acme]` (no key: the scope alone). */
export function limitName(ref: Pick<LimitRef, "scope" | "key">): string {
  return ref.key === "" ? ref.scope : `${ref.scope}[${ref.key}]`;
}

/** A limit's identity: its kind, scope and key (two tasks naming the same ones share it). */
export function limitId(ref: Pick<LimitRef, "kind" | "scope" | "key">): string {
  return `${ref.kind === "concurrency" ? "c" : "r"}:${limitName(ref)}`;
}

/** The state without lapsed holdings and starts that left the window (a new object when anything changed, else `s`). */
export function sweepLimit(s: LimitState, ref: LimitRef, now: number): LimitState {
  let holders = s.holders;
  for (const [h, exp] of Object.entries(s.holders)) {
    if (exp > now) continue;
    if (holders === s.holders) holders = { ...s.holders };
    delete holders[h];
  }
  let starts = s.starts;
  if (ref.kind === "rate") {
    let i = 0;
    while (i < starts.length && starts[i]! <= now - ref.periodMs) i++;
    if (i > 0) starts = starts.slice(i);
  }
  return holders === s.holders && starts === s.starts ? s : { holders, starts };
}

/** How much of the limit is used at `now`: holdings in force, or starts in the window. */
export function usedOf(s: LimitState, ref: LimitRef, now: number): number {
  if (ref.kind === "concurrency") {
    let n = 0;
    for (const exp of Object.values(s.holders)) if (exp > now) n++;
    return n;
  }
  let n = 0;
  for (const t of s.starts) if (t > now - ref.periodMs) n++;
  return n;
}

/** Whether `holder` may take the limit at `now` (a holder that holds it already may). */
export function fits(s: LimitState, ref: LimitRef, holder: string, now: number): boolean {
  if (ref.kind === "concurrency" && (s.holders[holder] ?? 0) > now) return true;
  return usedOf(s, ref, now) < ref.limit;
}

/** The state with `holder` taking the limit at `now` (lease until `now + leaseMs`), or undefined when it is full. */
export function take(s: LimitState, ref: LimitRef, holder: string, now: number, leaseMs: number): LimitState | undefined {
  const swept = sweepLimit(s, ref, now);
  if (!fits(swept, ref, holder, now)) return undefined;
  if (ref.kind === "concurrency") return { holders: { ...swept.holders, [holder]: now + leaseMs }, starts: swept.starts };
  return { holders: swept.holders, starts: [...swept.starts, now] };
}

/** The state with `holder`'s lease moved to `now + leaseMs`, or undefined when it holds nothing here (released or lapsed: never recreated). */
export function renew(s: LimitState, holder: string, now: number, leaseMs: number): LimitState | undefined {
  const exp = s.holders[holder];
  if (exp === undefined || exp <= now) return undefined;
  return { holders: { ...s.holders, [holder]: now + leaseMs }, starts: s.starts };
}

/** The state without `holder`'s holding (the same object when it held nothing). */
export function release(s: LimitState, holder: string): LimitState {
  if (!(holder in s.holders)) return s;
  const holders = { ...s.holders };
  delete holders[holder];
  return { holders, starts: s.starts };
}

/** When the limit next frees up by time alone (a lease running out, a start leaving the window), or undefined. */
export function nextChangeAt(s: LimitState, ref: LimitRef, now: number): number | undefined {
  let at: number | undefined;
  if (ref.kind === "concurrency") {
    for (const exp of Object.values(s.holders)) if (exp > now && (at === undefined || exp < at)) at = exp;
  } else {
    const first = s.starts.find((t) => t > now - ref.periodMs);
    if (first !== undefined) at = first + ref.periodMs;
  }
  return at;
}

/** What a waiting attempt waits for, for status and the web view: `limit llm/complete[acme]: 8/8 in use`. */
export function describeWait(ref: LimitRef, used: number): string {
  return ref.kind === "concurrency" ? `limit ${limitName(ref)}: ${used}/${ref.limit} in use` : `rate limit ${limitName(ref)}: ${used}/${ref.limit} started in ${ref.periodMs} ms`;
}
