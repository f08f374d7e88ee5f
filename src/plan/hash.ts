/**
 * Content hash of a plan: hex sha-256 over the canonical JSON (object keys sorted,
 * `undefined` members dropped, arrays kept in order) of the plan's *hash view*:
 * the plan without `planHash` and without the fields the compiler derives from the
 * rest — per task `id`, `parents`, `children`, `phase`; per state `phases`,
 * `sinks`, `criticalPath`. Those follow from the tasks (in order) and the edges,
 * given the plan's `formatVersion`, so leaving them out loses nothing and roughly
 * halves the bytes hashed for a large state.
 *
 * The canonical text is streamed into the hash in chunks rather than built as one
 * string: a plan of 100,000 tasks is tens of MB of JSON.
 */
import { createHash, type Hash } from "node:crypto";
import type { Plan } from "./schema.js";

const CHUNK = 1 << 16;
const DERIVED_TASK_KEYS: ReadonlySet<string> = new Set(["id", "parents", "children", "phase"]);
const DERIVED_STATE_KEYS: ReadonlySet<string> = new Set(["phases", "sinks", "criticalPath"]);
const NOTHING: ReadonlySet<string> = new Set();

type Special = Readonly<Record<string, (w: CanonicalWriter, value: unknown) => void>>;

/** Appends canonical JSON to a buffer, handing full chunks to `sink`. */
class CanonicalWriter {
  private buf = "";
  // Many objects share a shape (every task, every backoff): sort each shape's keys once.
  // Keyed by the first key; a hit is confirmed by comparing all keys.
  private readonly shapes = new Map<string, Shape>();

  constructor(private readonly sink: (chunk: string) => void) {}

  write(value: unknown): void {
    if (value === null || typeof value !== "object") {
      this.buf += JSON.stringify(value) ?? "null";
    } else if (Array.isArray(value)) {
      this.writeArray(value, (w, v) => w.write(v));
    } else {
      this.writeObject(value as Record<string, unknown>, NOTHING, {});
    }
    if (this.buf.length >= CHUNK) this.flush();
  }

  writeArray(values: readonly unknown[], item: (w: CanonicalWriter, v: unknown) => void): void {
    if (allStrings(values)) {
      // Native stringify of a string array is already canonical, and much faster.
      this.buf += JSON.stringify(values);
      return;
    }
    this.buf += "[";
    for (let i = 0; i < values.length; i++) {
      if (i > 0) this.buf += ",";
      item(this, values[i]);
    }
    this.buf += "]";
  }

  /** An object with sorted keys, leaving out `omit`; keys in `special` are written by their function. */
  writeObject(obj: Record<string, unknown>, omit: ReadonlySet<string>, special: Special): void {
    const shape = this.shapeOf(obj);
    let sep = "{";
    for (let i = 0; i < shape.sorted.length; i++) {
      const k = shape.sorted[i]!;
      const v = obj[k];
      if (v === undefined || omit.has(k)) continue;
      this.buf += sep;
      this.buf += shape.quoted[i]!;
      sep = ",";
      const writeSpecial = special[k];
      if (writeSpecial) writeSpecial(this, v);
      else if (v === null || typeof v !== "object") this.buf += JSON.stringify(v) ?? "null";
      else this.write(v);
    }
    this.buf += sep === "{" ? "{}" : "}";
    if (this.buf.length >= CHUNK) this.flush();
  }

  flush(): void {
    if (this.buf.length > 0) this.sink(this.buf);
    this.buf = "";
  }

  private shapeOf(obj: Record<string, unknown>): Shape {
    const keys = Object.keys(obj);
    const hit = this.shapes.get(keys[0] ?? "");
    if (hit && hit.keys.length === keys.length && keys.every((k, i) => k === hit.keys[i])) return hit;
    const sorted = [...keys].sort();
    const shape = { keys, sorted, quoted: sorted.map((k) => `${JSON.stringify(k)}:`) };
    this.shapes.set(keys[0] ?? "", shape);
    return shape;
  }
}

/** An object layout: its keys as enumerated, sorted, and sorted as quoted JSON keys with the colon. */
interface Shape {
  keys: string[];
  sorted: string[];
  quoted: string[];
}

function allStrings(values: readonly unknown[]): values is string[] {
  for (let i = 0; i < values.length; i++) if (typeof values[i] !== "string") return false;
  return true;
}

const writeTask = (w: CanonicalWriter, task: unknown): void => w.writeObject(task as Record<string, unknown>, DERIVED_TASK_KEYS, {});
const stateSpecial: Special = { tasks: (w, tasks) => w.writeArray(tasks as unknown[], writeTask) };
const writeState = (w: CanonicalWriter, state: unknown): void => w.writeObject(state as Record<string, unknown>, DERIVED_STATE_KEYS, stateSpecial);
const planSpecial: Special = { states: (w, states) => w.writeArray(states as unknown[], writeState) };
const PLAN_OMIT: ReadonlySet<string> = new Set(["planHash"]);

/**
 * Canonical JSON text of a value: sorted keys, no `undefined` members.
 * @example canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  const w = new CanonicalWriter((chunk) => parts.push(chunk));
  w.write(value);
  w.flush();
  return parts.join("");
}

/**
 * The part of a plan its hash covers: everything but `planHash` and the derived
 * fields (see the module header). `computePlanHash(p)` equals the sha-256 of
 * `canonicalJson(planHashView(p))`; the hash itself streams without building this.
 */
export function planHashView(plan: Omit<Plan, "planHash">): Record<string, unknown> {
  const { planHash: _ignored, states, ...rest } = plan as Plan;
  return {
    ...rest,
    states: states.map((s) => {
      const { phases: _p, sinks: _s, criticalPath: _c, tasks, ...stateRest } = s;
      return { ...stateRest, tasks: tasks.map(({ id: _i, parents: _pa, children: _ch, phase: _ph, ...t }) => t) };
    }),
  };
}

function updatePlan(hash: Hash, plan: Omit<Plan, "planHash">): void {
  const w = new CanonicalWriter((chunk) => hash.update(chunk));
  w.writeObject(plan, PLAN_OMIT, planSpecial);
  w.flush();
}

/**
 * The plan's content hash (hex sha-256 of its hash view), ignoring any `planHash` field.
 * @example const planHash = computePlanHash(planWithoutHash);
 */
export function computePlanHash(plan: Omit<Plan, "planHash">): string {
  const hash = createHash("sha256");
  updatePlan(hash, plan);
  return hash.digest("hex");
}
