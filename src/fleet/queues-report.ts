/**
 * What `phaseflow queues` shows (README "Traffic control"): per limit and key, how many
 * attempts run (hold a concurrency slot), how many wait, and the rate use in the current
 * window. A fleet's limit state is one KV entry per limit and key (kv-limit-gate.ts), but the
 * entry holds no limit numbers and the waiting attempts live in the coordinators (each keeps
 * those of its own runs). So the coordinator answering `run.queues` asks every live
 * coordinator for the limits it knows and how many of its attempts wait on each
 * (`coordinator.<id>.limits`), then reads each limit's entry afresh for its use.
 */
import { z } from "zod";
import { serializedErrorSchema } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import { emptyLimitState, limitId, usedOf, type LimitRef, type LimitState } from "../runtime/core/limit-state.js";
import type { LimitUse } from "../runtime/core/limits-table.js";
import { queueRowsOf } from "../runtime/core/queue-rows.js";
import type { TypedKv } from "../transport/fleet-port.js";
import { limitKvKey } from "./kv-limit-gate.js";

const limitRefSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("concurrency"), scope: z.string(), key: z.string(), limit: z.number() }),
  z.object({ kind: z.literal("rate"), scope: z.string(), key: z.string(), limit: z.number(), periodMs: z.number() }),
]);

/** One coordinator's limits: each with how many of its attempts wait on it. */
export const coordinatorLimitsReplySchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), limits: z.array(z.object({ ref: limitRefSchema, waiting: z.number().int().nonnegative() })) }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);
export const queuesRequestSchema = z.object({});

/** One row of `phaseflow queues` on the wire: a limit scope (by default the executor) at one key value (built by core/queue-rows.ts). */
export const queueRowSchema = z.object({
  scope: z.string(),
  /** The key value ("" when the limit has no key). */
  key: z.string(),
  /** Attempts waiting for this limit and key (across the coordinators that answered). */
  waiting: z.number().int().nonnegative(),
  /** The concurrency limit: attempts holding a slot now, of `limit`. */
  concurrency: z.object({ running: z.number().int().nonnegative(), limit: z.number() }).optional(),
  /** The rate limit: starts in the current window of `periodMs`, of `limit`. */
  rate: z.object({ started: z.number().int().nonnegative(), limit: z.number(), periodMs: z.number() }).optional(),
});
export type QueueRow = z.infer<typeof queueRowSchema>;

export const queuesReplySchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    rows: z.array(queueRowSchema),
    /** Live coordinators that did not answer in time: their waiting attempts are not counted. */
    unanswered: z.array(z.string()),
  }),
  z.object({ ok: z.literal(false), error: serializedErrorSchema }),
]);

/** What a coordinator's gate knows, as the `coordinator.<id>.limits` reply. */
export function limitsReplyOf(uses: readonly LimitUse[]): { ok: true; limits: { ref: LimitRef; waiting: number }[] } {
  return { ok: true, limits: uses.map((u) => ({ ref: u.ref, waiting: u.waiting })) };
}

/**
 * Merge what the coordinators know (waiting counts add up) and read each limit's stored
 * state for its use now; rows sorted by scope, then key.
 *
 * @example
 * const rows = await queueRows([ownLimits, ...othersLimits], store, Date.now(), log);
 */
export async function queueRows(
  known: readonly (readonly { ref: LimitRef; waiting: number }[])[],
  store: TypedKv<LimitState>,
  now: number,
  log: Logger,
): Promise<QueueRow[]> {
  const limits = new Map<string, { ref: LimitRef; waiting: number }>();
  for (const list of known) {
    for (const { ref, waiting } of list) {
      const id = limitId(ref);
      const e = limits.get(id);
      if (e) e.waiting += waiting;
      else limits.set(id, { ref, waiting });
    }
  }
  const uses = await Promise.all(
    [...limits.values()].map(async ({ ref, waiting }) => {
      let state = emptyLimitState();
      try {
        state = (await store.get(limitKvKey(ref)))?.value ?? state;
      } catch (err) {
        log.warn({ err, scope: ref.scope, key: ref.key }, "could not read a task limit's state for queues; shown as unused");
      }
      return { ref, waiting, used: usedOf(state, ref, now) };
    }),
  );
  return queueRowsOf(uses);
}

/** A period for people: `1s`, `1.5s`, `2m`, `250ms`. */
function period(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * The rows as a table, one line per limit and key:
 * `llm/complete  [acme]  running 8/8  waiting 12  rate 5/5 per 1s`.
 */
export function formatQueues(rows: readonly QueueRow[], unanswered: readonly string[] = []): string {
  const note = unanswered.length > 0 ? `coordinators that did not answer (their waiting attempts are not counted): ${unanswered.join(", ")}\n` : "";
  if (rows.length === 0) return `no task limits in use (tasks declare them with concurrency or rateLimit)\n${note}`;
  const cells = rows.map((r) => [
    r.scope,
    r.key === "" ? "-" : `[${r.key}]`,
    r.concurrency ? `running ${r.concurrency.running}/${r.concurrency.limit}` : "-",
    `waiting ${r.waiting}`,
    r.rate ? `rate ${r.rate.started}/${r.rate.limit} per ${period(r.rate.periodMs)}` : "-",
  ]);
  const head = ["LIMIT", "KEY", "RUNNING", "WAITING", "RATE"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join("  ");
  return `${[line(head), ...cells.map(line)].join("\n")}\n${note}`;
}
