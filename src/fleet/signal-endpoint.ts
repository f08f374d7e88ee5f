/**
 * `<p>.api.run.signal`: a signal sent to a fleet run (`client.signal`, `phaseflow
 * signal`). Any coordinator serving the run's workflow answers, whether or not it holds
 * the run: a signal needs no lease. It folds the run's stored history (to know its
 * status and the signal ids it has), checks the signal against the workflow it serves
 * (name, payload schema: runtime/core/signals.ts; a payload over `inlineBytes` comes as a
 * payload reference and is fetched for that check), and stores it on the run's report subject.
 * From there the run's holder consumes it — or, if that coordinator is down, whoever
 * takes the run over folds it from the history. A refused signal stores nothing.
 */
import type { WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { RunNotFoundError, UsageError } from "../errors/base.js";
import { definitionsOf } from "../runtime/core/definition.js";
import { historyEvents } from "../runtime/core/history.js";
import { createRunState, foldEvents, isFinished } from "../runtime/core/run-state.js";
import { holdsPayload } from "../runtime/core/schema-check.js";
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
export async function sendSignal(transport: Transport, served: WorkflowCatalog, store: RunStore, req: Request): Promise<object> {
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
  // Checked against the run's own plan (its signal schemas may differ between versions).
  const entry = served.byPlan(planHash);
  if (!entry) {
    throw new UsageError(`run "${runId}" runs plan ${planHash.slice(0, 12)} of workflow "${workflow}", which this coordinator does not serve (it serves ${served.describe() || "nothing"}); send the signal where the run's version is served`);
  }
  // A payload over inlineBytes came as a payload reference: its schema checks its value (fetched only then).
  const opened = holdsPayload(payload) && !isFinished(state) ? { value: await openPayload(transport, payload) } : undefined;
  const message = prepareSignal({ state, plan: entry.plan, defs: definitionsOf(entry.workflow), name, payload, opened, id, now: Date.now() });
  if (message === "duplicate") return { ok: true, runId, name, id: id!, duplicate: true };
  const { duplicate } = await transport.appendSignal(message);
  return { ok: true, runId, name, id: message.id, duplicate };
}

/** The value of a signal payload that holds payload references; a store without payloads cannot have stored them. */
async function openPayload(transport: Transport, payload: unknown): Promise<unknown> {
  if (!transport.payloads) throw new UsageError("the signal's payload is a payload reference, but this coordinator's transport stores no payloads");
  return transport.payloads.resolve(payload);
}
