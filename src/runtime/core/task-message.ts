/**
 * The task message of one attempt (decision.ts decides to send it): what a worker needs to
 * run it, from the run's plan, the visit and the attempt. Parents' outputs travel once when
 * the worker can rebuild the task's input from them (`inputFrom`), else the input itself.
 */
import { WIRE_VERSION, idempotencyKeyOf, type TaskMessage } from "../../transport/messages.js";
import type { Plan } from "../../plan/schema.js";
import { seedOfRunId, taskSeed } from "./seed.js";
import { mapOf } from "./map-decide.js";
import type { RunState, Visit, VisitTask } from "./run-state.js";

export interface AttemptSend {
  attempt: number;
  dispatchId: string;
  /** The task's name in the run: a map instance's own name, else the task's. */
  name: string;
  input: unknown;
  /** Set when the worker rebuilds the input from these parents' outputs instead. */
  inputFrom: readonly string[] | undefined;
  parents: Record<string, unknown>;
  token: string;
  /** The queue deadline (queueTimeoutMs), if any. */
  startBy: number | undefined;
  now: number;
}

export function taskMessageOf(st: RunState, plan: Plan, v: Visit, vt: VisitTask, a: AttemptSend): TaskMessage {
  const task = vt.layout.plan;
  const message: TaskMessage = {
    v: WIRE_VERSION,
    runId: st.runId,
    planHash: plan.planHash,
    workflow: plan.workflow,
    state: v.state,
    visit: v.visit,
    task: a.name,
    attempt: a.attempt,
    dispatchId: a.dispatchId,
    executor: task.executor,
    idempotencyKey: idempotencyKeyOf(st.runId, v.state, v.visit, a.name, st.round),
    ...(a.inputFrom !== undefined ? { inputFrom: [...a.inputFrom] } : { input: a.input }),
    parents: a.parents,
    // timeoutMs runs from the attempt's start on a worker (attempt-timers.ts); the dispatch sets only the queue deadline.
    deadline: null,
    timeoutMs: task.timeoutMs,
    dispatchedAt: a.now,
    round: st.round,
    epoch: st.epoch,
    token: a.token,
    seed: taskSeed(st.record.seed ?? seedOfRunId(st.runId), task.id, vt.instance?.index),
  };
  if (a.startBy !== undefined) message.startBy = a.startBy;
  const priority = st.record.options?.priority;
  if (priority !== undefined) message.priority = priority;
  if (task.params !== undefined) message.params = task.params;
  if (vt.instance) message.item = { index: vt.instance.index, count: mapOf(st, v, vt)?.count ?? 0 };
  return message;
}
