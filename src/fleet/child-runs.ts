/**
 * Child runs of a fleet coordinator (README "Workflows that call workflows"): the
 * `ChildRuns` port of runtime/shell/child-runs.ts over the coordinator API, so a child
 * is a fleet run like any other — leased, summarized in the run store, taken over when
 * its coordinator dies — on whichever coordinator serves its workflow.
 *
 * - `start` sends the routed start `run.start.wf.<workflow>[.v.<version>]` with the
 *   child's derived run id and its parent. The receiving coordinator starts it, or, when
 *   a run of that id exists, starts nothing (and stores its end on the parent again when
 *   it has ended: coordinator-service.ts). So asking twice — a parent taken over after a
 *   crash asks again for every child it still waits for — never starts a child twice.
 *   A start that does not get through (timeout, a coordinator restarting) is asked again
 *   with backoff; one refused for good (no coordinator serves the workflow, the input
 *   fails its schema) ends as a `child.ended` failure stored on the parent, so its node
 *   fails with a clear error instead of waiting.
 * - The child's end reaches the parent from the child's own shell (run-shell.ts stores
 *   `child.ended` on the parent's report subject), whoever drives either of them.
 * - `cancel` sends `run.cancel` for the child: its holder applies it, or it is recorded
 *   in the child's KV entry for whoever takes it over (coordinator-service.ts).
 */
import { ChildStartError } from "../errors/children.js";
import { InputValidationError, RunNotFoundError, type PhaseflowError } from "../errors/base.js";
import { deserializeError } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import type { ChildStart } from "../runtime/core/children.js";
import { storeStartFailure, type ChildRuns } from "../runtime/shell/child-runs.js";
import { routedOp } from "../transport/api-route.js";
import { NoRespondersError, type ApiPort } from "../transport/fleet-port.js";
import type { Transport } from "../transport/port.js";
import { decodeJsonBytes } from "../transport/decode.js";
import type { ZodType } from "zod";
import { cancelRunReplySchema, startRunReplySchema, type StartRunRequest } from "./api-schemas.js";

export interface FleetChildRunsDeps {
  api: ApiPort;
  transport: Transport;
  now: () => number;
  log: Logger;
  /** How long one start or cancel request waits for its reply. Default 10000 ms. */
  requestTimeoutMs?: number;
  /** Sends of one start or cancel before giving up. Default 6 (backoff 250 ms doubling). */
  tries?: number;
}

const encoder = new TextEncoder();

/** A reply that says the request was refused (not lost): its error. */
class Refused extends Error {
  constructor(readonly error: PhaseflowError) {
    super(error.message);
  }
}

/**
 * Child runs started through the fleet's API.
 * @example const children = fleetChildRuns({ api: transport.api, transport, now: Date.now, log });
 */
export function fleetChildRuns(d: FleetChildRunsDeps): ChildRuns & { close(): void } {
  const timeoutMs = d.requestTimeoutMs ?? 10_000;
  const tries = d.tries ?? 6;
  /** Starts under way: a second ask for the same child (a resume racing the first) sends nothing. */
  const starting = new Set<string>();
  /** Children cancelled while their start was under way: cancelled once the start is answered. */
  const cancelledEarly = new Map<string, string>();
  let closed = false;

  const send = async <T extends { ok: boolean }>(op: string, body: unknown, schema: ZodType<T, unknown>): Promise<Exclude<T, { ok: false }>> => {
    let lastError: unknown;
    for (let i = 0; i < tries && !closed; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (i - 1)));
      let data: Uint8Array;
      try {
        data = await d.api.request(op, encoder.encode(JSON.stringify(body)), { timeoutMs });
      } catch (err) {
        if (err instanceof NoRespondersError) throw err;
        // Lost on the way (timeout, a coordinator stopping): asking again is safe, both requests are idempotent.
        lastError = err;
        d.log.warn({ err, op }, "a child run request got no reply; asking again");
        continue;
      }
      const parsed = decodeJsonBytes(schema, data);
      if (!parsed.ok) throw new Refused(new ChildStartError("CHILD_START_FAILED", `the reply on ${d.api.subject(op)} is malformed (${parsed.reason})`));
      const reply = parsed.value as T & { error?: Parameters<typeof deserializeError>[0] };
      if (!reply.ok) throw new Refused(deserializeError(reply.error!));
      return reply as Exclude<T, { ok: false }>;
    }
    throw lastError instanceof Error ? lastError : new Error("the coordinator is closing", { cause: lastError });
  };

  const startFailed = (start: ChildStart, error: PhaseflowError): void => void storeStartFailure(d.transport, start, error, d.now(), d.log);
  const what = (start: ChildStart): string => `child node "${start.parent.state}/${start.parent.task}" of run "${start.parent.runId}"`;

  const begin = async (start: ChildStart): Promise<void> => {
    const version = start.version ?? undefined;
    const body: StartRunRequest & { parent: ChildStart["parent"] } = {
      workflow: start.workflow,
      ...(version !== undefined ? { version } : {}),
      ...(start.input !== undefined ? { input: start.input } : {}),
      // A child runs at its parent's priority (when the parent's is not the default; else at its own workflow's).
      options: { runId: start.runId, ...(start.priority !== undefined ? { priority: start.priority } : {}) },
      parent: start.parent,
    };
    try {
      const reply = await send(routedOp("run.start", start.workflow, version), body, startRunReplySchema);
      d.log.debug({ child: start.runId, parent: start.parent.runId, existing: reply.existing === true }, "child run started");
    } catch (err) {
      if (closed) return; // the parent is resumed elsewhere, and asks again there
      if (err instanceof NoRespondersError) {
        startFailed(start, new ChildStartError("CHILD_WORKFLOW_UNKNOWN", `${what(start)} runs workflow "${start.workflow}"${version !== undefined ? ` version "${version}"` : ""}, which no live coordinator serves (nobody answers on ${err.subject}); start a coordinator with its module (same --prefix)`));
        return;
      }
      if (err instanceof Refused && err.error instanceof InputValidationError) {
        startFailed(start, new ChildStartError("CHILD_INPUT_INVALID", `${what(start)}: ${err.error.message}; fix the node's input function or the items`));
        return;
      }
      const why = err instanceof Refused ? `${err.error.code}: ${err.error.message}` : err instanceof Error ? err.message : String(err);
      startFailed(start, new ChildStartError("CHILD_START_FAILED", `child run "${start.runId}" of workflow "${start.workflow}" could not be started: ${why}`));
    }
  };

  const cancel = async (runId: string, reason: string): Promise<void> => {
    try {
      await send("run.cancel", { runId, reason: `parent: ${reason}` }, cancelRunReplySchema);
    } catch (err) {
      // Never started (its start was refused), or gone already: nothing runs.
      if (err instanceof Refused && err.error instanceof RunNotFoundError) return;
      d.log.warn({ err, child: runId }, "could not cancel a child run; it runs on until it ends");
    }
  };

  return {
    start(start) {
      if (closed || starting.has(start.runId)) return;
      starting.add(start.runId);
      void begin(start).finally(() => {
        starting.delete(start.runId);
        const reason = cancelledEarly.get(start.runId);
        cancelledEarly.delete(start.runId);
        if (reason !== undefined) void cancel(start.runId, reason);
      });
    },
    cancel(runId, reason) {
      if (starting.has(runId)) {
        cancelledEarly.set(runId, reason);
        return;
      }
      void cancel(runId, reason);
    },
    close() {
      closed = true;
    },
  };
}
