/**
 * Hand-written checks for the two messages every task sends once each: the task
 * message and a successful report. Parsing them with their zod schemas was about a
 * tenth of the fleet's CPU per task; these do the same in a few plain comparisons.
 *
 * Each check takes a value fresh from `JSON.parse` and returns what the zod schema
 * would (a new object with the schema's keys only, unknown keys stripped), or
 * `undefined` when it is not sure: the caller then parses with zod, which decides and
 * words the error. So a check may refuse more than zod (anything unusual goes the slow
 * way), never less; tests/unit/message-checks.test.ts holds them to that against the
 * schemas on valid and mutated messages.
 */
import { reportSchema, reportSubjectSchema, taskMessageSchema, type Report, type TaskMessage } from "./messages.js";

const RUN_ID = /^[A-Za-z0-9_-]{1,200}$/;

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isPositiveInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isNonNegativeInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isVersion = (v: unknown): v is 2 | 3 => v === 2 || v === 3;

/** The task message as `taskMessageSchema` parses it, or undefined (then ask zod). */
export function checkTaskMessage(v: unknown): TaskMessage | undefined {
  if (!isObject(v)) return undefined;
  const {
    v: version,
    runId,
    planHash,
    workflow,
    state,
    visit,
    task,
    attempt,
    dispatchId,
    executor,
    idempotencyKey,
    parents,
    deadline,
    timeoutMs,
    dispatchedAt,
    round,
    epoch,
    token,
  } = v;
  if (
    !isVersion(version) ||
    !isString(runId) ||
    !RUN_ID.test(runId) ||
    !isString(planHash) ||
    !isString(workflow) ||
    !isString(state) ||
    !isPositiveInt(visit) ||
    !isString(task) ||
    !isPositiveInt(attempt) ||
    !isString(dispatchId) ||
    !isString(executor) ||
    !isString(idempotencyKey) ||
    !isObject(parents) ||
    !(deadline === null || isNumber(deadline)) ||
    !(timeoutMs === null || isPositiveInt(timeoutMs)) ||
    !isNumber(dispatchedAt) ||
    !isNonNegativeInt(round) ||
    !isNonNegativeInt(epoch) ||
    !isString(token) ||
    token.length < 16
  ) {
    return undefined;
  }
  // In the schema's key order, as zod builds its output.
  const out: Obj = { v: version, runId, planHash, workflow, state, visit, task, attempt, dispatchId, executor, idempotencyKey };
  if ("input" in v) out.input = v.input;
  out.parents = parents;
  if ("inputFrom" in v) {
    const from = v.inputFrom;
    if (!Array.isArray(from) || from.length === 0 || !from.every(isString)) return undefined;
    out.inputFrom = from;
  }
  out.deadline = deadline;
  out.timeoutMs = timeoutMs;
  out.dispatchedAt = dispatchedAt;
  out.round = round;
  out.epoch = epoch;
  out.token = token;
  if ("params" in v) out.params = v.params;
  if ("seed" in v) {
    if (!isNonNegativeInt(v.seed)) return undefined;
    out.seed = v.seed;
  }
  if ("item" in v) {
    const item = v.item;
    if (!isObject(item) || !isNonNegativeInt(item.index) || !isPositiveInt(item.count)) return undefined;
    out.item = { index: item.index, count: item.count };
  }
  if ("traceparent" in v) {
    if (!isString(v.traceparent) || v.traceparent.length > 128) return undefined;
    out.traceparent = v.traceparent;
  }
  if ("tracestate" in v) {
    if (!isString(v.tracestate) || v.tracestate.length > 512) return undefined;
    out.tracestate = v.tracestate;
  }
  return out as TaskMessage;
}

/** A successful report as `reportSchema` parses it, or undefined (failed reports and anything unusual: ask zod). */
export function checkSucceededReport(v: unknown): Report | undefined {
  if (!isObject(v)) return undefined;
  const { v: version, kind, type, runId, at, state, visit, task, attempt, dispatchId, token, workerId, durationMs } = v;
  if (
    kind !== "report" ||
    type !== "attempt.succeeded" ||
    !isVersion(version) ||
    !isString(runId) ||
    !RUN_ID.test(runId) ||
    !isNumber(at) ||
    !isString(state) ||
    !isPositiveInt(visit) ||
    !isString(task) ||
    !isPositiveInt(attempt) ||
    !isString(dispatchId) ||
    !isString(token) ||
    !isString(workerId) ||
    !isNumber(durationMs)
  ) {
    return undefined;
  }
  // In the schema's key order, as zod builds its output.
  const out: Obj = { v: version, kind, type, runId, at, state, visit, task, attempt, dispatchId, token, workerId };
  if ("output" in v) out.output = v.output;
  out.durationMs = durationMs;
  return out as Report;
}

/** The schemas that have a check, and their check (decode.ts and the codec look here first). */
export const FAST_CHECKS: ReadonlyMap<object, (v: unknown) => unknown> = new Map<object, (v: unknown) => unknown>([
  [taskMessageSchema, checkTaskMessage],
  [reportSchema, checkSucceededReport],
  // A report subject holds reports and signals: the union tries the report first, as zod's does.
  [reportSubjectSchema, checkSucceededReport],
]);

/**
 * Whether `value` as the sender holds it (before JSON) passes its schema's check, and
 * turns into JSON unchanged wherever the check looked (plain objects, no `toJSON`): the
 * sender may then skip parsing its own JSON back for zod. False means: do the round trip.
 */
export function passesBeforeEncoding(schema: object, value: unknown): boolean {
  const check = FAST_CHECKS.get(schema);
  if (check === undefined || !isObject(value) || "toJSON" in value) return false;
  const { parents, item } = value;
  if (parents !== undefined && (!isObject(parents) || "toJSON" in parents)) return false;
  if (item !== undefined && (!isObject(item) || "toJSON" in item)) return false;
  return check(value) !== undefined;
}
