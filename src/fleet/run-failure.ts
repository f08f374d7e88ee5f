/**
 * A run its coordinator cannot drive (its start or resume broke for good) is ended, with
 * the reason in its history: the failure is a `decide` trigger like any other (`fail`),
 * folded from the stored history, and only what `decide` emits is stored. A run that has
 * no history yet (it never started) is ended in its KV summary alone.
 */
import { serializeError } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import { decide, type DecideRandom } from "../runtime/core/decide.js";
import { historyEvents } from "../runtime/core/history.js";
import { createRunState, foldEvents } from "../runtime/core/run-state.js";
import type { Clock } from "../support/clock.js";
import { WIRE_VERSION } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import { endedUnstarted, summarize, type RunStore } from "./run-store.js";

/** A `fail` decision dispatches nothing: it draws no token and no jitter. */
const NO_RANDOM: DecideRandom = {
  jitter: () => 0,
  token: () => {
    throw new Error("phaseflow bug: a run failed by its coordinator dispatched an attempt");
  },
};

export interface RunFailureDeps {
  /** This coordinator's id: the decision's `by`. */
  id: string;
  transport: Transport;
  store: RunStore;
  clock: Clock;
  logger: Logger;
}

/**
 * End `runId` as failed with `err`: `decide` a `fail` on its folded history and store what
 * it decides (run.failed, unless the history already ended; a fenced decision, appended
 * after the last one read) and the summary in KV. Never rejects: a failure to record it is
 * logged.
 * @example await recordRunFailure(deps, runId, new UsageError("its start was not recorded"));
 */
export async function recordRunFailure(d: RunFailureDeps, runId: string, err: unknown): Promise<void> {
  d.logger.error({ err, runId }, "run failed: it cannot be driven");
  const error = serializeError(err);
  try {
    const { messages, lastDecisionSeq } = await d.transport.readHistory(runId);
    if (messages.length > 0) {
      const at = d.clock.now();
      const state = foldEvents(createRunState(runId), historyEvents(messages));
      const { events } = decide(state, { type: "fail", error }, at, NO_RANDOM);
      // epoch 0: no claim; the append is fenced by lastDecisionSeq instead.
      if (events.length > 0) await d.transport.appendDecision({ v: WIRE_VERSION, kind: "decision", runId, by: d.id, epoch: 0, through: state.through, at, events }, lastDecisionSeq);
      await d.store.save(summarize(state.record));
    } else {
      const stored = await d.store.get(runId);
      if (stored) await d.store.save(endedUnstarted(stored.value, { status: "failed", error, finishedAt: d.clock.now() }));
    }
  } catch (e) {
    d.logger.warn({ err: e, runId }, "could not record the run's failure");
  }
}
