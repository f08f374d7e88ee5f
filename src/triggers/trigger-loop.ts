/**
 * The loop that serves schedules and polling sources, on an injected clock, over two
 * ports: a state store (trigger-state.ts) and a starter that starts runs under start
 * keys. Every coordinator serving a workflow runs this loop; none needs a lease,
 * because every start it makes is keyed by the tick (or the item):
 *
 * - A schedule's tick T starts its run under the key `schedule:<id>:<T>` with a run id
 *   derived from the workflow, the schedule and T. Two coordinators waking at T start
 *   one run between them; the second start returns the first's run.
 * - A source polls by starting a *pass*: a one-task run of the source's executor
 *   (dispatched to the workers like any task), keyed `pass:<T>` with T the start of
 *   the current period, so one pass per period whoever starts it. While a pass runs
 *   no other starts; when it ended, whichever coordinator first marks it processed
 *   (compare-and-set) starts a run for each item `{ key, input }` it returned, under the
 *   item's key — keys started before return their run and are not counted — at most
 *   `batch` new runs per pass. A pass that outlasted its period is followed by the
 *   next one at once. A coordinator that dies mid-pass leaves the pass to the one that
 *   takes its run over and the items to the next pass (sources are read again anyway).
 *
 * The rules of which ticks are due are pure (schedule-rule.ts); this module does the
 * reading, starting and writing, in that order: a crash after a start and before the
 * write repeats the start, which the key makes harmless.
 */
import { z } from "zod";
import { InputValidationError } from "../errors/base.js";
import { formatIssues, toSchemaIssues } from "../support/schema-issues.js";
import type { Logger } from "../registry/types.js";
import type { Clock } from "../support/clock.js";
import type { ResolvedSource } from "./resolve.js";
import { dueTicks, tickStamp, type ResolvedSchedule } from "./schedule-rule.js";
import { triggerKey, type StateEntry, type TriggerState, type TriggerStateStore } from "./trigger-state.js";

/** Longest the loop sleeps between evaluations (it re-reads what other coordinators did). Default 30 s. */
export const DEFAULT_MAX_SLEEP_MS = 30_000;

export const sourceItemsSchema = z.array(z.object({ key: z.string().min(1).max(512), input: z.unknown().optional() }).strict());

export type RunOutcome = { status: "succeeded"; output: unknown } | { status: "failed" | "cancelled"; reason: string } | "running" | "unknown";

export interface TriggerStarter {
  /** Start a run of `workflow` under start `key`, idempotently; `runId` proposes its id. */
  start(workflow: string, input: unknown, key: string, runId: string | undefined): Promise<{ runId: string; created: boolean }>;
  /** How a run stands; for a finished pass, the output of its one task. */
  outcome(runId: string): Promise<RunOutcome>;
  /** Resolves when a run this process drives has ended; undefined when it drives no such run. */
  ended(runId: string): Promise<unknown> | undefined;
}

export interface ServedTriggers {
  workflow: string;
  schedules: readonly ResolvedSchedule[];
  /** Each source with the name of the one-task workflow its passes run as. */
  sources: readonly { source: ResolvedSource; passWorkflow: string }[];
}

export interface TriggerLoopOptions {
  served: readonly ServedTriggers[];
  store: TriggerStateStore;
  starter: TriggerStarter;
  clock: Clock;
  logger: Logger;
  /** Default DEFAULT_MAX_SLEEP_MS. */
  maxSleepMs?: number;
  /** A schedule tick no older than this is on time (`catchUp: "skip"`). Default 60 s. */
  graceMs?: number;
}

export interface TriggerLoop {
  /** Evaluate every trigger now, then keep doing so at each next tick. */
  start(): Promise<void>;
  /** Evaluate again now (e.g. a pass ended). */
  wake(): void;
  /** Resolves once the current evaluation (if any) is done. */
  idle(): Promise<void>;
  stop(): void;
}

const slug = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 80);
/** The run id of a schedule's tick: the same on every coordinator. */
export const scheduleRunId = (workflow: string, id: string, tick: number): string => `${slug(workflow)}-${id}-${tickStamp(tick)}`;
export const scheduleKey = (id: string, tick: number): string => `schedule:${id}:${tickStamp(tick)}`;
export const passRunId = (workflow: string, id: string, tick: number): string => `${slug(workflow)}-${id}-pass-${tickStamp(tick)}`;

/**
 * Create the loop (not started).
 * @example
 * const loop = createTriggerLoop({ served, store, starter, clock, logger });
 * await loop.start();
 */
export function createTriggerLoop(o: TriggerLoopOptions): TriggerLoop {
  const maxSleep = o.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS;
  let timer: unknown;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  const watched = new Set<string>();

  /** Write `change(current)` with compare-and-set, re-reading on a conflict. */
  const write = async (key: string, entry: StateEntry, change: (v: TriggerState) => TriggerState | undefined): Promise<boolean> => {
    let current: StateEntry | undefined = entry;
    for (let tries = 0; tries < 5 && current; tries++) {
      const next = change(current.value);
      if (next === undefined) return false;
      try {
        await o.store.update(key, next, current.revision);
        return true;
      } catch {
        current = await o.store.get(key);
      }
    }
    return false;
  };

  const entryOf = async (key: string, initial: TriggerState): Promise<StateEntry | undefined> => {
    const found = await o.store.get(key);
    if (found) return found;
    await o.store.create(key, initial).catch(() => undefined); // another coordinator created it first: read theirs
    return o.store.get(key);
  };

  const evaluateSchedule = async (workflow: string, s: ResolvedSchedule): Promise<number | undefined> => {
    const key = triggerKey("schedule", workflow, s.id);
    const now = o.clock.now();
    const base: TriggerState = { kind: "schedule", workflow, id: s.id, describe: s.describe, catchUp: s.catchUp, lastTick: now, updatedAt: now };
    const next0 = s.nextAfter(now);
    const entry = await entryOf(key, { ...base, ...(next0 !== undefined ? { nextTick: next0 } : {}) });
    if (!entry) return next0;
    const due = dueTicks(s, entry.value.lastTick, now, o.graceMs);
    let lastRunId = entry.value.lastRunId;
    for (const tick of due.start) {
      const r = await o.starter.start(workflow, s.input, scheduleKey(s.id, tick), scheduleRunId(workflow, s.id, tick));
      lastRunId = r.runId;
      if (r.created) o.logger.info({ workflow, schedule: s.id, tick: new Date(tick).toISOString(), runId: r.runId }, "schedule started a run");
    }
    if (due.last !== entry.value.lastTick || due.next !== entry.value.nextTick || s.describe !== entry.value.describe) {
      await write(key, entry, (v) => {
        if ((v.lastTick ?? 0) > due.last) return undefined; // another coordinator is ahead
        return { ...v, describe: s.describe, catchUp: s.catchUp, lastTick: due.last, ...(due.next !== undefined ? { nextTick: due.next } : {}), ...(lastRunId !== undefined ? { lastRunId } : {}), updatedAt: now };
      });
    }
    return due.next;
  };

  /** Start the runs of a finished pass's items; returns what it did. */
  const startItems = async (workflow: string, src: ResolvedSource, outcome: RunOutcome): Promise<NonNullable<TriggerState["lastPass"]>> => {
    const at = o.clock.now();
    if (outcome === "running") throw new Error("unreachable: a running pass has no items");
    if (outcome === "unknown") return { at, listed: 0, started: 0, invalid: 0, error: "the pass run is gone" };
    if (outcome.status !== "succeeded") return { at, listed: 0, started: 0, invalid: 0, error: `the pass ${outcome.status}: ${outcome.reason}` };
    const items = sourceItemsSchema.safeParse(outcome.output);
    if (!items.success) {
      const error = `executor "${src.executor}" must return [{ key, input }]: ${formatIssues(toSchemaIssues(items.error.issues), "(output)")}`;
      o.logger.error({ workflow, source: src.id }, error);
      return { at, listed: 0, started: 0, invalid: 0, error };
    }
    let started = 0;
    let invalid = 0;
    for (const item of items.data) {
      if (started >= src.batch) break;
      try {
        const r = await o.starter.start(workflow, item.input, item.key, undefined);
        if (r.created) started++;
      } catch (err) {
        if (!(err instanceof InputValidationError)) throw err;
        invalid++;
        o.logger.warn({ workflow, source: src.id, key: item.key, err }, "a source item's input fails the workflow's input schema; skipped");
      }
    }
    if (started > 0) o.logger.info({ workflow, source: src.id, listed: items.data.length, started }, "source pass started runs");
    return { at, listed: items.data.length, started, invalid };
  };

  const evaluateSource = async (workflow: string, src: ResolvedSource, passWorkflow: string): Promise<number | undefined> => {
    const key = triggerKey("source", workflow, src.id);
    const describe = `every ${src.every} via ${src.executor}`;
    let entry = await entryOf(key, { kind: "source", workflow, id: src.id, describe, updatedAt: o.clock.now() });
    if (!entry) return o.clock.now() + src.everyMs;
    const pass = entry.value.pass;
    if (pass && !pass.processed) {
      const outcome = await o.starter.outcome(pass.runId);
      if (outcome === "running") {
        watch(pass.runId);
        return o.clock.now() + Math.min(src.everyMs, maxSleep);
      }
      // Claim the processing: of several coordinators, the one whose write lands starts the items.
      const claimed = await write(key, entry, (v) => (v.pass?.runId === pass.runId && !v.pass.processed ? { ...v, pass: { ...pass, processed: true }, updatedAt: o.clock.now() } : undefined));
      if (claimed) {
        const lastPass = await startItems(workflow, src, outcome);
        entry = await o.store.get(key);
        if (entry) await write(key, entry, (v) => ({ ...v, lastPass, updatedAt: o.clock.now() }));
      }
      entry = await o.store.get(key);
      if (!entry) return undefined;
    }
    const now = o.clock.now();
    const tick = Math.floor(now / src.everyMs) * src.everyMs;
    const last = entry.value.lastTick;
    if (entry.value.pass && !entry.value.pass.processed) return now + Math.min(src.everyMs, maxSleep); // another coordinator's pass, started meanwhile
    if (last !== undefined && last >= tick) return last + src.everyMs;
    const r = await o.starter.start(passWorkflow, { source: src.id, tick }, `pass:${tickStamp(tick)}`, passRunId(workflow, src.id, tick));
    await write(key, entry, (v) => ((v.lastTick ?? -1) >= tick ? undefined : { ...v, describe, lastTick: tick, nextTick: tick + src.everyMs, pass: { runId: r.runId, tick, processed: false }, updatedAt: now }));
    watch(r.runId);
    return tick + src.everyMs;
  };

  /** Evaluate again as soon as a pass this process drives ends. */
  const watch = (runId: string): void => {
    if (watched.has(runId)) return;
    const ended = o.starter.ended(runId);
    if (!ended) return;
    watched.add(runId);
    void ended.then(
      () => {
        watched.delete(runId);
        wake();
      },
      () => watched.delete(runId),
    );
  };

  const evaluate = async (): Promise<void> => {
    let soonest = o.clock.now() + maxSleep;
    const consider = (next: number | undefined): void => {
      if (next !== undefined) soonest = Math.min(soonest, next);
    };
    // Side by side: a source starting its items does not hold up a schedule's tick.
    const jobs: Promise<number | undefined>[] = [];
    for (const served of o.served) {
      for (const s of served.schedules) jobs.push(evaluateSchedule(served.workflow, s).catch((err: unknown) => failed(err, served.workflow, s.id)));
      for (const { source, passWorkflow } of served.sources) {
        jobs.push(evaluateSource(served.workflow, source, passWorkflow).catch((err: unknown) => failed(err, served.workflow, source.id)));
      }
    }
    for (const next of await Promise.all(jobs)) consider(next);
    arm(Math.max(0, soonest - o.clock.now()));
  };

  const failed = (err: unknown, workflow: string, id: string): number => {
    o.logger.warn({ err, workflow, trigger: id }, "a schedule or source could not be served this time; it is tried again shortly");
    return o.clock.now() + Math.min(5000, maxSleep);
  };

  const arm = (ms: number): void => {
    if (stopped) return;
    o.clock.clearTimeout(timer);
    timer = o.clock.setTimeout(wake, ms);
    (timer as { unref?: () => void } | undefined)?.unref?.();
  };

  const wake = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = evaluate()
      .catch((err: unknown) => {
        o.logger.warn({ err }, "serving schedules and sources failed; trying again shortly");
        arm(Math.min(5000, maxSleep));
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          wake();
        }
      });
  };

  return {
    async start() {
      wake();
      await running;
    },
    wake,
    async idle() {
      while (running) await running;
    },
    stop() {
      stopped = true;
      o.clock.clearTimeout(timer);
    },
  };
}
