/**
 * `<p>.api.run.signal`: a signal sent to a fleet run (`client.signal`, `phaseflow
 * signal`). Any coordinator serving the run's workflow answers, whether or not it holds
 * the run: a signal needs no lease. It folds the run's stored history (to know its
 * status and the signal ids it has), checks the signal against the workflow it serves
 * (name, payload schema: runtime/core/signals.ts), and stores it on the run's report subject.
 * From there the run's holder consumes it — or, if that coordinator is down, whoever
 * takes the run over folds it from the history. A refused signal stores nothing.
 */
import type { Workflow } from "../dsl/workflow.js";
import { RunNotFoundError, UsageError } from "../errors/base.js";
import type { Plan } from "../plan/schema.js";
import { definitionsOf } from "../runtime/core/definition.js";
import { historyEvents } from "../runtime/core/history.js";
import { createRunState, foldEvents } from "../runtime/core/run-state.js";
import { prepareSignal } from "../runtime/core/signals.js";
import type { Transport } from "../transport/port.js";
import type { z } from "zod";
import type { signalRunRequestSchema } from "./api-schemas.js";
import type { RunStore } from "./run-store.js";

type Request = z.infer<typeof signalRunRequestSchema>;

/**
 * Check and store one signal; resolves with the reply body.
 * @example await sendSignal(transport, served, store, { runId, name: "verdict", payload: { ok: true } })
 */
export async function sendSignal(transport: Transport, served: ReadonlyMap<string, { workflow: Workflow<unknown>; plan: Plan }>, store: RunStore, req: Request): Promise<object> {
  const { runId, name, payload, id } = req;
  const { messages } = await transport.readHistory(runId);
  const state = foldEvents(createRunState(runId), historyEvents(messages));
  let workflow = state.record.workflow;
  let planHash = state.record.planHash;
  if (messages.length === 0 || workflow === "") {
    // Accepted but not started yet (waiting for workers): the signal waits in its history.
    const stored = (await store.get(runId))?.value;
    if (!stored) throw new RunNotFoundError(runId);
    workflow = stored.workflow;
    planHash = stored.planHash;
  }
  const entry = served.get(workflow);
  if (!entry) throw new UsageError(`this coordinator does not serve workflow "${workflow}" of run "${runId}"; send the signal where a coordinator serving it listens (same --prefix)`);
  if (entry.plan.planHash !== planHash) {
    throw new UsageError(`run "${runId}" runs plan ${planHash.slice(0, 12)} of workflow "${workflow}", but this coordinator serves plan ${entry.plan.planHash.slice(0, 12)}; its signal schemas may differ, so send it where the run's version is served`);
  }
  const message = prepareSignal({ state, plan: entry.plan, defs: definitionsOf(entry.workflow), name, payload, id, now: Date.now() });
  if (message === "duplicate") return { ok: true, runId, name, id: id!, duplicate: true };
  const { duplicate } = await transport.appendSignal(message);
  return { ok: true, runId, name, id: message.id, duplicate };
}
