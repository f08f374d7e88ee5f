/**
 * The columns of one map node's instances in one state visit (see map-instances.ts):
 * typed arrays by instance index, one array of outputs in item order, the fields that
 * fit no column kept aside per instance, and the records of the instances in flight.
 */
import { dispatchIdOf } from "../../transport/messages.js";
import { estimateBytes } from "./record-size.js";
import type { TaskRecord, TaskStatus } from "./run-record-schema.js";
import type { StringTable } from "./string-table.js";

const STATUSES = ["pending", "dispatched", "running", "succeeded", "failed", "retrying", "skipped", "cancelled"] as const satisfies readonly TaskStatus[];
const CODE: ReadonlyMap<TaskStatus, number> = new Map(STATUSES.map((s, i) => [s, i + 1]));
const NO_TIME = -0x8000_0000;
const MAX_TIME = 0x7fff_ffff;
const MAX_U16 = 0xffff;
const HAS_OUTPUT = 1;
const HAS_DISPATCH = 2;

/** Fields the columns hold; anything else on a record goes to its extras entry. */
const COLUMNS: ReadonlySet<string> = new Set(["id", "state", "visit", "task", "status", "attempts", "executor", "dispatchId", "workerId", "startedAt", "finishedAt", "durationMs", "output", "map", "index"]);
/** The key order of a record whose shape did not fit the string table. */
const CANONICAL: readonly string[] = ["id", "state", "visit", "task", "status", "attempts", "executor", "dispatchId", "map", "index", "workerId", "startedAt", "durationMs", "output", "finishedAt", "dueAt", "error", "progress", "redeliveries", "reason", "wait", "child", "instances"];
/** What a re-run of the map clears on its instances (as fold/tasks.ts does on a plain record). */
const CLEARED_ON_RERUN = ["dispatchId", "workerId", "startedAt", "finishedAt", "durationMs", "dueAt", "output", "error", "progress", "redeliveries", "reason", "wait"] as const;
const CLEARED: ReadonlySet<string> = new Set(CLEARED_ON_RERUN);

/** Dispatched, running or retrying: an instance whose record stays an object. */
export const isInFlight = (s: TaskStatus): boolean => s === "dispatched" || s === "running" || s === "retrying";

/** The instances of one map node in one state visit, by index. */
export class InstanceTable {
  capacity = 0;
  /** Status code (index in STATUSES + 1); 0: the instance has no record. */
  status = new Uint8Array(0);
  private flags = new Uint8Array(0);
  private attempts = new Uint16Array(0);
  private executor = new Uint16Array(0);
  private worker = new Uint16Array(0);
  /** The record's keys in their order (interned, joined): a reader's JSON is the same text as a plain fold's. */
  private shape = new Uint16Array(0);
  /** Offsets from `base` (ms); NO_TIME: absent. */
  private started = new Int32Array(0);
  private finished = new Int32Array(0);
  /** Whole ms (a worker's clock); NO_TIME: absent. */
  private duration = new Int32Array(0);
  /** When the record was first made, counted over every task record of the run: the record's place in `record.tasks`. */
  order = new Uint32Array(0);
  /** Outputs in item order, null where an instance has none: the map's output once it succeeds. */
  private outputs: unknown[] = [];
  /** A copy of `outputs` was handed out as the map's output (its values are shared, not the array). */
  private handedOut = false;
  private base: number | undefined;
  /** Fields that fit no column, by index. */
  private readonly extras = new Map<number, Record<string, unknown>>();
  /** Records of instances in flight (and of any being changed), by index: these are the truth for them, not the columns. */
  readonly live = new Map<number, TaskRecord>();

  constructor(
    readonly runId: string,
    readonly state: string,
    readonly visit: number,
    readonly map: string,
    private readonly strings: StringTable,
    count: number,
  ) {
    this.ensure(count);
  }

  /** Room for `count` instances (a re-run may expand the map to more items). */
  ensure(count: number): void {
    if (count <= this.capacity) return;
    const grow = <A extends Uint8Array | Uint16Array | Int32Array | Uint32Array>(old: A, make: (n: number) => A): A => {
      const a = make(count);
      a.set(old);
      return a;
    };
    const cap = this.capacity;
    this.status = grow(this.status, (n) => new Uint8Array(n));
    this.flags = grow(this.flags, (n) => new Uint8Array(n));
    this.attempts = grow(this.attempts, (n) => new Uint16Array(n));
    this.executor = grow(this.executor, (n) => new Uint16Array(n));
    this.worker = grow(this.worker, (n) => new Uint16Array(n));
    this.shape = grow(this.shape, (n) => new Uint16Array(n));
    this.started = grow(this.started, (n) => new Int32Array(n).fill(NO_TIME));
    this.finished = grow(this.finished, (n) => new Int32Array(n).fill(NO_TIME));
    this.duration = grow(this.duration, (n) => new Int32Array(n).fill(NO_TIME));
    this.order = grow(this.order, (n) => new Uint32Array(n));
    for (let k = cap; k < count; k++) this.outputs.push(null);
    this.capacity = count;
  }

  has(k: number): boolean {
    return this.status[k] !== 0;
  }

  private nameOf(k: number): string {
    return `${this.map}[${k}]`;
  }

  /** A new instance's record (live until stored). */
  create(k: number, order: number): TaskRecord {
    const task = this.nameOf(k);
    const t: TaskRecord = { id: `${this.state}/${task}`, state: this.state, visit: this.visit, task, status: "pending", attempts: 0 };
    this.order[k] = order;
    this.status[k] = CODE.get("pending")!;
    this.live.set(k, t);
    return t;
  }

  /** A stored instance's record made live again, to be changed (its next go, or an event for it). */
  revive(k: number): TaskRecord {
    const t = this.build(k);
    this.live.set(k, t);
    return t;
  }

  /** The record of instance `k` as readers see it: the live one, or one built from the columns (a new object). */
  record(k: number): TaskRecord | undefined {
    if (k >= this.capacity || !this.has(k)) return undefined;
    return this.live.get(k) ?? this.build(k);
  }

  /** The record built from the columns, its keys in the order the stored record had them. */
  private build(k: number): TaskRecord {
    const task = this.nameOf(k);
    const extra = this.extras.get(k);
    const keys = this.shape[k] !== 0 ? this.strings.keysAt(this.shape[k]!) : [...CANONICAL, ...Object.keys(extra ?? {}).filter((key) => !CANONICAL.includes(key))];
    const t: Record<string, unknown> = {};
    for (const key of keys) {
      const v = extra && key in extra ? extra[key] : this.column(k, key, task);
      if (v !== undefined) t[key] = v;
    }
    return t as TaskRecord;
  }

  private column(k: number, key: string, task: string): unknown {
    switch (key) {
      case "id":
        return `${this.state}/${task}`;
      case "state":
        return this.state;
      case "visit":
        return this.visit;
      case "task":
        return task;
      case "status":
        return STATUSES[this.status[k]! - 1];
      case "attempts":
        return this.attempts[k];
      case "executor":
        return this.executor[k] !== 0 ? this.strings.at(this.executor[k]!) : undefined;
      case "dispatchId":
        return (this.flags[k]! & HAS_DISPATCH) !== 0 ? dispatchIdOf(this.runId, this.state, this.visit, task, this.attempts[k]!) : undefined;
      case "map":
        return this.map;
      case "index":
        return k;
      case "workerId":
        return this.worker[k] !== 0 ? this.strings.at(this.worker[k]!) : undefined;
      case "startedAt":
        return this.started[k] !== NO_TIME ? this.base! + this.started[k]! : undefined;
      case "finishedAt":
        return this.finished[k] !== NO_TIME ? this.base! + this.finished[k]! : undefined;
      case "durationMs":
        return this.duration[k] !== NO_TIME ? this.duration[k] : undefined;
      case "output":
        return (this.flags[k]! & HAS_OUTPUT) !== 0 ? this.outputs[k] : undefined;
      default:
        return undefined;
    }
  }

  /** Put instance `k`'s record into the columns; it is no longer live. */
  store(k: number, t: TaskRecord): void {
    this.live.delete(k);
    const task = this.nameOf(k);
    const extra: Record<string, unknown> = {};
    let extras = false;
    const keep = (key: string, value: unknown): void => {
      extra[key] = value;
      extras = true;
    };
    const keys = Object.keys(t);
    for (const key of keys) {
      const value = (t as Record<string, unknown>)[key];
      if (!COLUMNS.has(key) && value !== undefined) keep(key, value);
    }
    this.shape[k] = this.strings.of(keys.join(","));
    if (t.id !== `${this.state}/${task}`) keep("id", t.id);
    if (t.state !== this.state) keep("state", t.state);
    if (t.visit !== this.visit) keep("visit", t.visit);
    if (t.task !== task) keep("task", t.task);
    if (t.map !== this.map) keep("map", t.map);
    if (t.index !== k) keep("index", t.index);
    this.status[k] = CODE.get(t.status)!;
    const fits = Number.isInteger(t.attempts) && t.attempts >= 0 && t.attempts <= MAX_U16;
    this.attempts[k] = fits ? t.attempts : 0;
    if (!fits) keep("attempts", t.attempts);
    let flags = 0;
    if (t.dispatchId !== undefined) {
      if (fits && t.dispatchId === dispatchIdOf(this.runId, this.state, this.visit, task, t.attempts)) flags |= HAS_DISPATCH;
      else keep("dispatchId", t.dispatchId);
    }
    this.executor[k] = this.interned(t.executor, "executor", keep);
    this.worker[k] = this.interned(t.workerId, "workerId", keep);
    this.started[k] = this.offset(t.startedAt, "startedAt", keep);
    this.finished[k] = this.offset(t.finishedAt, "finishedAt", keep);
    this.duration[k] = this.whole(t.durationMs, "durationMs", keep);
    let output: unknown = null;
    if (t.output !== undefined) {
      if (t.status === "succeeded") {
        flags |= HAS_OUTPUT;
        output = t.output;
      } else {
        keep("output", t.output);
      }
    }
    this.setOutput(k, output);
    this.flags[k] = flags;
    if (extras) this.extras.set(k, extra);
    else this.extras.delete(k);
  }

  private interned(s: string | undefined, key: string, keep: (key: string, value: unknown) => void): number {
    if (s === undefined) return 0;
    const i = this.strings.of(s);
    if (i === 0) keep(key, s);
    return i;
  }

  private offset(at: number | undefined, key: string, keep: (key: string, value: unknown) => void): number {
    if (at === undefined) return NO_TIME;
    this.base ??= at;
    const off = at - this.base;
    if (Number.isInteger(off) && off > NO_TIME && off <= MAX_TIME) return off;
    keep(key, at);
    return NO_TIME;
  }

  /** A whole number of ms that fits the column, or NO_TIME with the value kept in extras. */
  private whole(ms: number | undefined, key: string, keep: (key: string, value: unknown) => void): number {
    if (ms === undefined) return NO_TIME;
    if (Number.isInteger(ms) && ms > NO_TIME && ms <= MAX_TIME) return ms;
    keep(key, ms);
    return NO_TIME;
  }

  private setOutput(k: number, value: unknown): void {
    this.outputs[k] = value;
  }

  /**
   * The map's output: its instances' outputs in item order, null for one without. Always
   * a new array (8 bytes an instance): embedded, children get their inputs by reference,
   * and a fan-in that sorts or splices `input.<map>` in place must not reorder the
   * instances' own outputs; a later change to an instance leaves it as it was too.
   */
  mapOutput(count: number): unknown[] {
    this.handedOut = true;
    return this.outputs.slice(0, count);
  }

  /** A re-run expands the map again: its first `count` instances' stored records start over (attempts, executor and place kept). */
  resetStored(count: number, kept?: ReadonlySet<number>): void {
    const pending = CODE.get("pending")!;
    for (let k = 0; k < Math.min(count, this.capacity); k++) {
      if (this.status[k] === 0 || this.live.has(k) || kept?.has(k) === true) continue;
      this.status[k] = pending;
      this.flags[k] = 0;
      this.worker[k] = 0;
      this.started[k] = NO_TIME;
      this.finished[k] = NO_TIME;
      this.duration[k] = NO_TIME;
      this.setOutput(k, null);
      if (this.shape[k] !== 0) this.shape[k] = this.strings.of(this.strings.keysAt(this.shape[k]!).filter((key) => !CLEARED.has(key)).join(","));
      const extra = this.extras.get(k);
      if (!extra) continue;
      for (const key of CLEARED_ON_RERUN) delete extra[key];
      if (Object.keys(extra).length === 0) this.extras.delete(k);
    }
  }

  /** Add the statuses of the instances with a record to `counts`. */
  countStatuses(counts: Record<TaskStatus, number>): void {
    const byCode = new Array<number>(STATUSES.length + 1).fill(0);
    for (let k = 0; k < this.capacity; k++) byCode[this.status[k]!]!++;
    for (const [k, t] of this.live) {
      byCode[this.status[k]!]!--;
      counts[t.status]++;
    }
    for (let c = 1; c <= STATUSES.length; c++) counts[STATUSES[c - 1]!] += byCode[c]!;
  }

  /** Indexes of the instances with a record, in order of their record's making. */
  made(): number[] {
    const order = this.order;
    const ks: number[] = [];
    let sorted = true;
    for (let k = 0; k < this.capacity; k++) {
      if (this.status[k] === 0) continue;
      if (sorted && ks.length > 0 && order[ks[ks.length - 1]!]! > order[k]!) sorted = false;
      ks.push(k);
    }
    if (!sorted) ks.sort((a, b) => order[a]! - order[b]!);
    return ks;
  }

  /** Estimated heap bytes: the columns, the outputs, the extras and the live records. */
  bytes(): number {
    const columns = this.status.byteLength * 2 + this.attempts.byteLength * 4 + this.started.byteLength * 3 + this.order.byteLength;
    // Handed out as the map's output, the values are counted with the record that holds them; here only this array's slots.
    const outputs = this.handedOut ? this.outputs.length * 8 : estimateBytes(this.outputs);
    return columns + outputs + estimateBytes([...this.extras.values()]) + estimateBytes([...this.live.values()]);
  }
}
