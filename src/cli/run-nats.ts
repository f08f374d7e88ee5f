/**
 * `phaseflow run --nats URL` and `phaseflow follow`: a run on the fleet, seen through the
 * fleet client. `startNatsRun` submits a run (by workflow name; with the plan hash of
 * the local file when there is one, so a coordinator serving another plan refuses);
 * `attachNatsRun` follows a run started anywhere. Either way the session reads the
 * run's events from its durable history, and Ctrl-C stops following without touching
 * the run (it lives on the fleet; `phaseflow cancel <id>` cancels it).
 *
 * A run cancelled while it waited for workers has no history (nothing started), only
 * its summary: the session polls the summary until the first event arrives, so such a
 * run ends its follower at once instead of leaving it waiting forever.
 */
import type { Client, StartedRun, StartOptions } from "../fleet/client.js";
import { createClient } from "./fleet-client.js";
import type { Plan } from "../plan/schema.js";
import type { Logger } from "../registry/types.js";
import { isRunFinished } from "../runtime/core/run-record.js";
import type { RunRecord } from "../runtime/core/run-record-schema.js";
import type { RunUpdate } from "../transport/messages.js";
import type { RunSession } from "./run-follow.js";
import type { natsOptionsFrom } from "./nats-flags.js";

export interface NatsRunOptions {
  nats: ReturnType<typeof natsOptionsFrom>;
  /** The workflow's name, as the coordinator knows it. */
  workflow: string;
  input: unknown;
  options: StartOptions;
  /** The local file's plan hash: the coordinator refuses the start when it serves another plan. */
  planHash?: string | undefined;
  logger: Logger;
  /** How often the run's summary is polled until its first event. Default 1000 ms. */
  pollMs?: number;
}

export interface NatsRunSession extends RunSession {
  /** The coordinator's reply: run id, the plan it runs, executors no live worker serves yet. */
  readonly started: StartedRun;
  readonly client: Client;
}

/**
 * Submit a run and return its session (the client stays connected until `close()`).
 * @throws ApiRequestError (`NO_COORDINATOR`, ...), TransportConnectError, or the coordinator's own error (e.g. INPUT_INVALID, PLAN_HASH_MISMATCH)
 * @example const session = await startNatsRun({ nats: natsOptionsFrom(values), workflow: "etl", input, options: {}, logger });
 */
export async function startNatsRun(o: NatsRunOptions): Promise<NatsRunSession> {
  const client = await createClient({ ...o.nats, logger: o.logger });
  try {
    const started = await client.start(o.workflow, o.input, o.options, o.planHash !== undefined ? { planHash: o.planHash } : {});
    return fleetSession(client, started, o.logger, o.pollMs ?? 1000);
  } catch (err) {
    await client.close();
    throw err;
  }
}

/**
 * Follow a run started anywhere. Resolves with the session and the run's record as the
 * coordinators have it now.
 * @throws RunNotFoundError when no coordinator knows the run
 */
export async function attachNatsRun(o: { nats: NatsRunOptions["nats"]; runId: string; logger: Logger; pollMs?: number }): Promise<{ session: NatsRunSession; record: RunRecord }> {
  const client = await createClient({ ...o.nats, logger: o.logger });
  try {
    const record = await client.get(o.runId);
    const session = fleetSession(client, { runId: o.runId, planHash: record.planHash, waitingFor: [], existing: true }, o.logger, o.pollMs ?? 1000);
    return { session, record };
  } catch (err) {
    await client.close();
    throw err;
  }
}

/** The plan the coordinators serve for `workflow`, when it is the plan `planHash` names (else undefined). */
export async function servedPlan(client: Client, workflow: string, planHash?: string, version?: string): Promise<Plan | undefined> {
  try {
    const plan = await client.plan(workflow, version === "" ? undefined : version);
    return planHash === undefined || plan.planHash === planHash ? plan : undefined;
  } catch {
    // Progress totals are a nicety: an older coordinator without plan.get, or one that
    // no longer serves the workflow, leaves them to the tasks seen so far.
    return undefined;
  }
}

function fleetSession(client: Client, started: StartedRun, logger: Logger, pollMs: number): NatsRunSession {
  const { runId } = started;
  let summary: RunRecord | undefined;
  return {
    runId,
    started,
    client,
    onInterrupt: "detach",
    events: () => fleetEvents(client, runId, logger, pollMs, (r) => (summary = r)),
    async cancel(reason) {
      await client.cancel(runId, reason);
    },
    // The record folded from the full history is the record the coordinator keeps; a run
    // that ended without a history (cancelled while pending) is known by its summary.
    result: (folded) => Promise.resolve(folded.status === "pending" && summary !== undefined ? summary : folded),
    close: () => client.close(),
  };
}

async function* fleetEvents(client: Client, runId: string, logger: Logger, pollMs: number, ended: (summary: RunRecord) => void): AsyncGenerator<RunUpdate> {
  const inner = client.followLive(runId)[Symbol.asyncIterator]();
  let seen = false;
  let stop = false;
  const finishedWithoutHistory = (async (): Promise<"ended"> => {
    for (;;) {
      await new Promise((r) => setTimeout(r, pollMs));
      if (stop || seen) return new Promise<never>(() => undefined);
      try {
        const record = await client.get(runId);
        if (!seen && record.states.length === 0 && isRunFinished(record)) {
          ended(record);
          return "ended";
        }
      } catch (err) {
        logger.debug({ err, runId }, "reading the run summary failed; following its history only");
      }
    }
  })();
  let done = false;
  try {
    for (;;) {
      const next = await Promise.race([inner.next(), finishedWithoutHistory]);
      if (next === "ended" || next.done === true) {
        done = next !== "ended";
        return;
      }
      seen = true;
      yield next.value;
    }
  } finally {
    stop = true;
    // Not awaited: a consumer waiting for messages only returns once the client closes.
    if (!done) inner.return?.().catch(() => undefined);
  }
}

/** The notice for a run that waits for workers. */
export function describeWaiting(runId: string, waitingFor: readonly string[], flags: string): string {
  return `run ${runId} waits for workers: no live worker serves ${waitingFor.map((k) => `"${k}"`).join(", ")} yet; start one with "phaseflow worker ${flags} <executor modules>"`;
}
