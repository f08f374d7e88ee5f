/**
 * The parent's side of a child's end (README "Workflows that call workflows"): a child's end
 * normally reaches its parent from the child's own shell, which stores `child.ended` on the
 * parent's report subject right after the child's end is stored in its own history. A
 * coordinator that dies between the two would lose that end while the parent's coordinator
 * lives on (nothing resumes the parent, so nothing asks again), and the parent would wait
 * forever. So the parent's coordinator checks on every child it has waited on for
 * `checkMs`: it reads the child's history, and when the child has ended it stores the end
 * on the parent itself. Storing an end twice is harmless: the report is deduplicated by
 * its message id (`child:<parent>:<child>`) and the fold keeps the first end per child.
 *
 * A child is watched from its start until its parent folded its end or stopped being
 * driven here (whoever resumes the parent asks for its children again, and watches them
 * there). The checks of a child still running back off (doubling, at most `16 * checkMs`
 * apart), and one check runs at a time, child after child, so a wide map costs one
 * history read per child per interval at most.
 */
import type { Logger } from "../../registry/types.js";
import type { Clock, TimerHandle } from "../../support/clock.js";
import type { Transport } from "../../transport/port.js";
import type { ChildStart } from "../core/children.js";
import { isRunFinished, recordOfHistory } from "../core/run-record.js";
import { childEndedOf, type ChildRuns } from "./child-runs.js";

/** Default wait before a parent's coordinator checks on a child it has not heard the end of: 30 s. */
export const DEFAULT_CHILD_CHECK_MS = 30_000;

export interface ChildWatchOptions {
  transport: Transport;
  clock: Clock;
  log: Logger;
  /** How long a child is waited on before its parent's coordinator reads its history. Default 30000. */
  checkMs?: number;
  /** Whether the parent folded the child's end: true/false while the parent is driven here, undefined once it is not. */
  folded(parentRunId: string, childRunId: string): boolean | undefined;
}

interface Watched {
  readonly start: ChildStart;
  due: number;
  gap: number;
}

/**
 * `inner` with the parent's check on each child it starts.
 * @example const children = watchChildren(fleetChildRuns(deps), { transport, clock, log, folded: (p, c) => runs.get(p)?.state.childEnds.has(c) });
 */
export function watchChildren(inner: ChildRuns, o: ChildWatchOptions): ChildRuns & { close(): void } {
  const checkMs = o.checkMs ?? DEFAULT_CHILD_CHECK_MS;
  const watched = new Map<string, Watched>();
  let timer: TimerHandle = undefined;
  let armed = false;
  let checking = false;
  let closed = false;

  const arm = (): void => {
    if (armed || closed || watched.size === 0) return;
    armed = true;
    timer = o.clock.setTimeout(() => {
      armed = false;
      void sweep().finally(arm);
    }, checkMs);
    (timer as { unref?: () => void } | undefined)?.unref?.();
  };

  const check = async (runId: string, w: Watched): Promise<void> => {
    const { parent } = w.start;
    const { messages } = await o.transport.readHistory(runId);
    if (messages.length === 0) return;
    const record = recordOfHistory(messages);
    if (!isRunFinished(record)) return;
    if (o.folded(parent.runId, runId) !== false) return; // the end arrived while we read
    o.log.warn({ child: runId, parent: parent.runId, status: record.status }, "a child run has ended but its end had not reached its parent; storing it on the parent now");
    await o.transport.appendChildEnd(childEndedOf(record, parent.runId, o.clock.now()));
  };

  const sweep = async (): Promise<void> => {
    if (checking || closed) return;
    checking = true;
    try {
      for (const [runId, w] of [...watched]) {
        if (closed) return;
        if (o.folded(w.start.parent.runId, runId) !== false) {
          watched.delete(runId);
          continue;
        }
        if (w.due > o.clock.now()) continue;
        try {
          await check(runId, w);
        } catch (err) {
          o.log.warn({ err, child: runId, parent: w.start.parent.runId }, "could not check on a child run; checking again later");
        }
        w.gap = Math.min(w.gap * 2, 16 * checkMs);
        w.due = o.clock.now() + w.gap;
      }
    } finally {
      checking = false;
    }
  };

  return {
    start(start) {
      inner.start(start);
      if (closed) return;
      watched.set(start.runId, { start, due: o.clock.now() + checkMs, gap: checkMs });
      arm();
    },
    cancel(runId, reason) {
      // Still watched: a cancelled child's end (cancelled) is what its node waits for.
      inner.cancel(runId, reason);
    },
    close() {
      closed = true;
      watched.clear();
      if (armed) o.clock.clearTimeout(timer);
      armed = false;
    },
  };
}
