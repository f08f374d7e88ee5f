/**
 * The decider's rules for map nodes (README "Fan-out at run time"; the fold is in
 * fold/maps.ts and map-state.ts): evaluating `items(input)` once (its result goes into
 * the history as map.items events, so no replay evaluates it again), cutting a long list
 * into events small enough for one stored message each, starting instances while the
 * map has room, and failing the map past its tolerated failures. The decision under way
 * is decision.ts (the `MapHost`).
 */
import { MapFailedError, MapItemsError } from "../../errors/map.js";
import { serializeError, type SerializedError } from "../../errors/serialize.js";
import { WIRE_VERSION, type DecisionEvent } from "../../transport/messages.js";
import type { ResolvedRunOptions } from "../../support/run-options.js";
import type { Effect } from "./decide-api.js";
import { disarmAttempt, retryKey } from "./decide-timers.js";
import { taskInputOf } from "./dataflow.js";
import type { Definitions } from "./definition.js";
import { cancelChildOf } from "./children.js";
import { PayloadsNeeded } from "./payload-view.js";
import { instanceName, type MapProgress } from "./map-state.js";
import type { RunModel } from "./run-model.js";
import { isFinished, taskKey, taskRecordOf, type RunState, type Visit, type VisitTask } from "./run-state.js";
import type { Checked } from "./schema-check.js";

/** Most items per map.items event, and about how many bytes of JSON one may hold. */
export const MAX_ITEMS_PER_EVENT = 1_000;
export const MAX_ITEM_BYTES_PER_EVENT = 128 * 1024;

/** `items(input)` as an array, or the error that fails the map node (it threw, returned no array, or is missing). */
export function evaluateItems(items: ((input: unknown) => unknown) | undefined, input: unknown, taskId: string): { ok: true; items: unknown[] } | { ok: false; error: MapItemsError } {
  if (typeof items !== "function") return { ok: false, error: new MapItemsError(taskId, "is not a function in the coordinator's copy of the workflow") };
  let out: unknown;
  try {
    out = items(input);
  } catch (err) {
    return { ok: false, error: new MapItemsError(taskId, `threw: ${err instanceof Error ? err.message : String(err)}`, { cause: err }) };
  }
  if (!Array.isArray(out)) {
    const got = out === null ? "null" : typeof out === "object" ? "an object" : typeof out;
    return { ok: false, error: new MapItemsError(taskId, `returned ${got}, not an array`) };
  }
  return { ok: true, items: Array.from(out as unknown[]) };
}

/**
 * `[from, items]` chunks of `items` starting at `start`: at most MAX_ITEMS_PER_EVENT
 * items and about MAX_ITEM_BYTES_PER_EVENT bytes of JSON each (one item is never split).
 * An empty list is one empty chunk, so the expansion is always recorded.
 */
export function chunkItems(items: readonly unknown[], start = 0): [number, unknown[]][] {
  if (items.length === 0) return [[0, []]];
  const chunks: [number, unknown[]][] = [];
  let from = start;
  let bytes = 0;
  let current: unknown[] = [];
  for (let k = start; k < items.length; k++) {
    const size = (JSON.stringify(items[k]) ?? "null").length;
    if (current.length > 0 && (current.length >= MAX_ITEMS_PER_EVENT || bytes + size > MAX_ITEM_BYTES_PER_EVENT)) {
      chunks.push([from, current]);
      from = k;
      current = [];
      bytes = 0;
    }
    current.push(items[k]);
    bytes += size;
  }
  if (current.length > 0) chunks.push([from, current]);
  return chunks;
}

/** How many failed instances a map of `count` items tolerates: a count as is, a fraction (< 1) of the count, rounded down. */
export function toleratedOf(toleratedFailures: number, count: number): number {
  return toleratedFailures < 1 ? Math.floor(toleratedFailures * count) : toleratedFailures;
}

/** What of the decision under way (decision.ts) these rules use. */
export interface MapHost {
  readonly st: RunState;
  readonly effects: Effect[];
  readonly options: Pick<ResolvedRunOptions, "schedule" | "onFailure">;
  emit(e: DecisionEvent): void;
  model(): RunModel & { defs: Definitions };
  ref(v: Visit, vt: VisitTask): { state: string; visit: number; task: string };
  checkInput(v: Visit, vt: VisitTask, input: unknown): Checked;
  sendAttempt(v: Visit, vt: VisitTask, attempt: number, input: unknown, parents: Record<string, unknown>): void;
  failTask(v: Visit, vt: VisitTask, error: SerializedError, attempt?: number): void;
  /** `value` with its payload references looked up (payload-view.ts). @throws PayloadsNeeded */
  view(value: unknown): unknown;
  need(err: PayloadsNeeded): void;
}

/** `items(input)` with the input's payloads looked up; undefined when one is being fetched (asked for: the map starts on `resolved`). */
function itemsOf(h: MapHost, v: Visit, vt: VisitTask): ReturnType<typeof evaluateItems> | undefined {
  const { defs } = h.model();
  const task = vt.layout.plan;
  let input: unknown;
  try {
    input = h.view(taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps).input);
  } catch (err) {
    if (!(err instanceof PayloadsNeeded)) throw err;
    h.need(err);
    return undefined;
  }
  return evaluateItems(defs.mapItems(v.state, task.name), input, task.id);
}

/** The map node's progress (map-state.ts), once it expanded. */
export function mapOf(st: RunState, v: Visit, vt: VisitTask): MapProgress | undefined {
  return st.maps.get(taskKey(v.state, v.visit, vt.layout.name));
}

/** Evaluate the map's items once, record them, and start its first instances. */
export function startMap(h: MapHost, v: Visit, vt: VisitTask): void {
  const task = vt.layout.plan;
  const result = itemsOf(h, v, vt);
  if (result === undefined) return;
  if (!result.ok) {
    h.failTask(v, vt, serializeError(result.error));
    return;
  }
  const count = result.items.length;
  const tolerated = toleratedOf(task.map!.toleratedFailures, count);
  const keep = h.st.keepMaps.has(taskKey(v.state, v.visit, task.name)) ? { keep: true } : {};
  for (const [from, items] of chunkItems(result.items)) h.emit({ type: "map.items", ...h.ref(v, vt), count, tolerated, from, items, ...(from === 0 ? keep : {}) });
  fillMap(h, v, vt);
}

/** Start instances of every running map of the visit while they have room. */
export function fillMaps(h: MapHost, v: Visit): void {
  // O(maps of the state) per call: pump runs once per report.
  for (const name of v.layout.maps) {
    const vt = v.tasks.get(name);
    if (vt?.status === "running" && h.st.visit === v && !isFinished(h.st)) fillMap(h, v, vt);
  }
}

function fillMap(h: MapHost, v: Visit, vt: VisitTask): void {
  const mp = mapOf(h.st, v, vt);
  if (!mp || mp.record.status !== "running") return;
  if (mp.received < mp.count && !finishExpansion(h, v, vt, mp)) return;
  const max = vt.layout.plan.map!.maxConcurrency;
  let parents: Record<string, unknown> | undefined;
  while (mp.open < max && mp.next < mp.count && mp.record.status === "running" && h.st.visit === v && !isFinished(h.st)) {
    if (mp.kept?.has(mp.next) === true) {
      mp.next++; // succeeded before a retry: its output stands
      continue;
    }
    parents ??= taskInputOf(vt.layout, v.input, v.outputs, v.layout.maps).parents;
    const next = mp.next;
    startInstance(h, v, vt, mp, next, parents);
    // Not started: it waits for a payload being fetched (its limit key reads one); the map goes on on `resolved`.
    if (mp.next === next) return;
  }
}

/**
 * The history holds only part of the map's items (its holder stopped while storing a
 * long list): evaluate items again and record the rest, if it is the same length.
 */
function finishExpansion(h: MapHost, v: Visit, vt: VisitTask, mp: MapProgress): boolean {
  const task = vt.layout.plan;
  const result = itemsOf(h, v, vt);
  if (result === undefined) return false;
  if (result.ok && result.items.length !== mp.count) {
    h.failTask(v, vt, serializeError(new Error(`map "${task.id}": items(input) returned ${result.items.length} items on resume, the history recorded ${mp.count}; make items a pure function of its input`)));
    return false;
  }
  if (!result.ok) {
    h.failTask(v, vt, serializeError(result.error));
    return false;
  }
  for (const [from, items] of chunkItems(result.items, mp.received)) h.emit({ type: "map.items", ...h.ref(v, vt), count: mp.count, tolerated: mp.tolerated, from, items });
  return true;
}

function startInstance(h: MapHost, v: Visit, node: VisitTask, mp: MapProgress, index: number, parents: Record<string, unknown>): void {
  const name = instanceName(node.layout.name, index);
  const record = taskRecordOf(h.st, v.state, v.visit, name);
  const attempts = record?.attempts ?? 0;
  // The instance as it is about to start: evolve adds it to the visit when its dispatch is folded.
  const vt: VisitTask = { layout: node.layout, status: "pending", attempts, firstAttempt: attempts + 1, lost: 0, waitingFor: 0, record, instance: { name, index } };
  const checked = h.checkInput(v, vt, mp.items[index]);
  if (!checked.ok) h.failTask(v, vt, checked.error);
  else h.sendAttempt(v, vt, attempts + 1, checked.value, parents);
}

/** An instance failed after its last attempt: past the tolerated count, its map fails. */
export function instanceFailed(h: MapHost, v: Visit, vt: VisitTask): void {
  const node = v.tasks.get(vt.layout.name);
  const mp = node && mapOf(h.st, v, node);
  if (!node || !mp || mp.record.status !== "running" || mp.failed <= mp.tolerated) return;
  const first = taskRecordOf(h.st, v.state, v.visit, mp.firstFailure ?? vt.instance!.name);
  const err = first?.error ?? { code: "UNKNOWN", message: "unknown failure" };
  const error = new MapFailedError(node.layout.plan.id, mp.failed, mp.count, mp.tolerated, { id: first?.id ?? vt.layout.plan.id, code: err.code, message: err.message });
  // Under "continue" the rest of the map is of no use either; fail-fast stops everything below.
  if (h.options.onFailure !== "fail-fast") stopInstances(h, v, node.layout.name, `map "${node.layout.plan.id}" failed`);
  h.failTask(v, node, serializeError(error));
}

function stopInstances(h: MapHost, v: Visit, map: string, reason: string): void {
  for (const vt of v.tasks.values()) {
    if (!vt.instance || vt.layout.name !== map) continue;
    const dispatchId = vt.record?.dispatchId;
    if (vt.status === "retrying") h.effects.push({ type: "cancelTimer", key: retryKey(v.state, v.visit, vt.instance.name) });
    else if (dispatchId !== undefined) h.effects.push({ type: "control", message: { v: WIRE_VERSION, type: "cancel.attempt", runId: h.st.runId, dispatchId, reason } });
    disarmAttempt(h.effects, dispatchId);
    cancelChildOf(h, vt, reason);
    h.emit({ type: "task.cancelled", ...h.ref(v, vt), reason });
  }
}
