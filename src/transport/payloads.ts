/**
 * Payloads of any size (README "Payloads of any size"): a user value (task input or
 * output, run input or output, state input or output, signal payload, child run output,
 * map item) whose JSON is over `inlineBytes` is stored once in a payload store and the
 * message carries a reference to it instead, `{ $pfref: "sha256:<hex>", bytes }`.
 *
 * - Content-addressed: the same bytes are one object, however many messages or runs
 *   carry them. Each object keeps the set of runs that refer to it; `release(runId)`
 *   (retention, prune) drops the run from its objects' sets and deletes the objects no
 *   run holds any more.
 * - Off the hot path: a sender only looks at the size of the bytes it serialized anyway;
 *   only a message over `inlineBytes` is walked (`shrinkMessage`).
 * - References are values like any other to the coordinator: the output of task A
 *   reaches task B as the reference. Whoever needs the value resolves it (`resolve`):
 *   the worker before it calls the executor, `export`, `status --resolve`, a client's
 *   result. A merge of several outputs among which one is a reference is kept as a
 *   merge reference, `{ $pfmerge: [...] }` (runtime/core/dataflow.ts), resolved the same way.
 * - `maxPayload` bounds one value: past it the value is refused with a
 *   `PayloadTooLargeError` that names the limit and the option.
 *
 * The store itself is a port (`PayloadStore`): NATS Object Store in transport/nats, a
 * map in transport/memory. Pure apart from the store: no Node built-ins here.
 */
import { PayloadTooLargeError } from "../errors/base.js";
import { payloadCorrupt, PayloadStoreError } from "../errors/payloads.js";
import type { ChildEndedMessage, Decision, DecisionEvent, Report, SignalMessage, TaskMessage } from "./messages.js";

/** Default `inlineBytes`: values whose JSON is larger travel as references. */
export const DEFAULT_INLINE_BYTES = 256 * 1024;
/** Default `maxPayload`: the largest value accepted. */
export const DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024;

/** What a message carries instead of a value stored as a payload. */
export interface PayloadRef {
  readonly $pfref: string;
  /** Size of the value's JSON, in bytes. */
  readonly bytes: number;
}

/** The shallow merge of `parts` (references or values; plain objects merged, later wins), resolved on read. */
export interface PayloadMerge {
  readonly $pfmerge: readonly unknown[];
}

export function isPayloadRef(value: unknown): value is PayloadRef {
  return typeof value === "object" && value !== null && typeof (value as { $pfref?: unknown }).$pfref === "string" && typeof (value as { bytes?: unknown }).bytes === "number";
}

export function isPayloadMerge(value: unknown): value is PayloadMerge {
  return typeof value === "object" && value !== null && Array.isArray((value as { $pfmerge?: unknown }).$pfmerge);
}

/** One stored payload: its id (`sha256:<hex>`), size, and the runs that hold it. */
export interface StoredPayload {
  readonly id: string;
  readonly bytes: number;
  readonly runs: readonly string[];
}

/** Where payloads live: the port the NATS Object Store and the memory map implement. */
export interface PayloadStore {
  /** Store `data` (JSON text as UTF-8) under `id` for `runId`: adds the run to the object's holders, uploads only when absent or damaged (not `data`'s size or digest). */
  put(runId: string, id: string, data: Uint8Array): Promise<void>;
  /** The bytes stored under `id`, or undefined when there is none. */
  get(id: string): Promise<Uint8Array | undefined>;
  /** Drop `runId` from the holders of its objects and delete those no run holds; resolves with how many were deleted. */
  release(runId: string): Promise<number>;
  /** Every stored object with its holders (tests, housekeeping). */
  list(): Promise<StoredPayload[]>;
  /**
   * Remove what uploads that never finished left behind (the uploader died mid-put): parts
   * of no stored object, the newest written over `olderThanMs` ago (an upload under way
   * keeps writing). Resolves with how many uploads were removed. Absent: the store leaves none.
   */
  sweepIncomplete?(olderThanMs: number): Promise<number>;
}

/** What senders and readers need: the limits, and storing and resolving values. */
export interface Payloads {
  readonly inlineBytes: number;
  readonly maxPayload: number;
  /** `value` as sent: itself when its JSON is at most `inlineBytes`, else a reference to it, stored for `runId`. Throws `PayloadTooLargeError` past `maxPayload`. */
  reference(runId: string, value: unknown, what: string): Promise<unknown>;
  /** `value` with every reference and merge reference in it replaced by the value it stands for. */
  resolve<T>(value: T): Promise<T>;
  release(runId: string): Promise<number>;
  list(): Promise<StoredPayload[]>;
  /** The store's `sweepIncomplete` (0 when it leaves no incomplete uploads). */
  sweepIncomplete(olderThanMs: number): Promise<number>;
}

/** How long a process takes a value it put for a run as stored, before it puts it again (which replaces a damaged object): 1 minute. */
export const REPUT_AFTER_MS = 60_000;

/** How long an upload may write nothing before retention and prune take it for dead: 2 minutes. */
export const INCOMPLETE_UPLOAD_AGE_MS = 2 * 60_000;

export interface PayloadsOptions {
  /** Values whose JSON is larger travel as references. Default 256 KiB. */
  inlineBytes?: number;
  /** The largest value accepted, in bytes of JSON. Default 64 MiB. */
  maxPayload?: number;
  /** SHA-256 of bytes as lowercase hex (Node's crypto; this module is pure). */
  sha256: (data: Uint8Array) => string;
  /** The clock of `REPUT_AFTER_MS`. Default: `Date.now`. */
  now?: () => number;
}

/** A referenced object that is gone (its runs were pruned): a `PayloadStoreError` with code PAYLOAD_MISSING. */
export class PayloadMissingError extends PayloadStoreError {
  constructor(readonly id: string) {
    super("PAYLOAD_MISSING", id, `payload ${id} is not in the payload store (its runs were removed by retention or prune)`);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Store and resolve values through `store` with the given limits.
 * @example const payloads = createPayloads(store, { sha256 }); const sent = await payloads.reference(runId, big, "output of task a");
 */
export function createPayloads(store: PayloadStore, options: PayloadsOptions): Payloads {
  const inlineBytes = options.inlineBytes ?? DEFAULT_INLINE_BYTES;
  const maxPayload = options.maxPayload ?? DEFAULT_MAX_VALUE_BYTES;
  /**
   * Objects put by this process, per run, and when: a value sent again soon (the same output
   * to several tasks) is not put again. Past `REPUT_AFTER_MS` it is (the store checks the
   * object it has, cheaply), so a task retried later replaces an object damaged meanwhile.
   */
  const put = new Map<string, { stored: Promise<void>; at: number }>();
  const now = options.now ?? Date.now;

  async function fetch(ref: PayloadRef): Promise<unknown> {
    const data = await store.get(ref.$pfref);
    if (data === undefined) throw new PayloadMissingError(ref.$pfref);
    // Content-addressed: what was read must hash to its name, or it is not the value referenced.
    const actual = `sha256:${options.sha256(data)}`;
    if (actual !== ref.$pfref) {
      // Sent again by this process, it is put again (the store replaces the damaged object).
      for (const key of put.keys()) if (key.endsWith(` ${ref.$pfref}`)) put.delete(key);
      throw payloadCorrupt(ref.$pfref, actual, data.byteLength);
    }
    return JSON.parse(decoder.decode(data)) as unknown;
  }

  async function resolve(value: unknown): Promise<unknown> {
    if (typeof value !== "object" || value === null) return value;
    if (isPayloadRef(value)) return resolve(await fetch(value));
    if (isPayloadMerge(value)) {
      const parts = await Promise.all(value.$pfmerge.map(resolve));
      const merged: Record<string, unknown> = {};
      for (const p of parts) if (typeof p === "object" && p !== null && !Array.isArray(p)) Object.assign(merged, p);
      return merged;
    }
    if (Array.isArray(value)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const v: unknown = value[i];
        const r = await resolve(v);
        if (r !== v) (out ??= value.slice())[i] = r;
      }
      return out ?? value;
    }
    let out: Record<string, unknown> | undefined;
    for (const [k, v] of Object.entries(value)) {
      const r = await resolve(v);
      if (r !== v) (out ??= { ...value })[k] = r;
    }
    return out ?? value;
  }

  return {
    inlineBytes,
    maxPayload,
    async reference(runId, value, what) {
      if (value === undefined || value === null || typeof value !== "object" && typeof value !== "string") return value;
      if (isPayloadRef(value)) return value;
      const text = JSON.stringify(value);
      // A UTF-8 byte is at most 3 per UTF-16 unit: encode only when it might matter.
      if (text.length * 3 <= inlineBytes) return value;
      const data = encoder.encode(text);
      if (data.byteLength <= inlineBytes) return value;
      if (data.byteLength > maxPayload) throw new PayloadTooLargeError(what, data.byteLength, maxPayload, "maxPayload");
      const id = `sha256:${options.sha256(data)}`;
      const key = `${runId} ${id}`;
      const at = now();
      const recent = put.get(key);
      let stored = recent !== undefined && at - recent.at < REPUT_AFTER_MS ? recent.stored : undefined;
      if (stored === undefined) {
        const entry = { stored: store.put(runId, id, data), at };
        stored = entry.stored;
        put.delete(key);
        put.set(key, entry);
        stored.catch(() => {
          if (put.get(key) === entry) put.delete(key);
        });
        if (put.size > 10_000) put.delete(put.keys().next().value!);
      }
      await stored;
      return { $pfref: id, bytes: data.byteLength } satisfies PayloadRef;
    },
    resolve: resolve as <T>(value: T) => Promise<T>,
    async release(runId) {
      for (const key of put.keys()) if (key.startsWith(`${runId} `)) put.delete(key);
      return store.release(runId);
    },
    list: () => store.list(),
    sweepIncomplete: (olderThanMs) => store.sweepIncomplete?.(olderThanMs) ?? Promise.resolve(0),
  };
}

/** Messages whose user values may travel as references. */
export type ValueMessage = Decision | Report | SignalMessage | ChildEndedMessage | TaskMessage;

/**
 * `message` with each of its user values over `inlineBytes` stored and referenced (see the
 * module header). Call it only for a message whose encoding is over `inlineBytes`: the
 * cheap test stays with the sender, which has the bytes.
 */
export async function shrinkMessage<M extends ValueMessage>(payloads: Payloads, message: M, what: string): Promise<M> {
  return (await shrink(payloads, message, what)) as M;
}

async function shrink(payloads: Payloads, message: ValueMessage, what: string): Promise<ValueMessage> {
  const runId = message.runId;
  const ref = (value: unknown, field: string): Promise<unknown> => payloads.reference(runId, value, `${field} in ${what}`);
  if ("kind" in message) {
    switch (message.kind) {
      case "report":
        return message.type === "attempt.succeeded" ? { ...message, output: await ref(message.output, "the output") } : message;
      case "signal":
        return { ...message, payload: await ref(message.payload, "the payload") };
      case "child":
        return { ...message, output: await ref(message.output, "the output") };
      case "decision": {
        const events: DecisionEvent[] = [];
        for (const e of message.events) events.push(await shrinkEvent(e, ref));
        return { ...message, events };
      }
    }
  }
  const task: TaskMessage = message;
  const parents: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(task.parents)) parents[name] = await ref(value, `the output of parent "${name}"`);
  const shrunk: TaskMessage = { ...task, parents };
  if (task.input !== undefined) shrunk.input = await ref(task.input, "the input");
  return shrunk;
}

async function shrinkEvent(e: DecisionEvent, ref: (value: unknown, field: string) => Promise<unknown>): Promise<DecisionEvent> {
  switch (e.type) {
    case "run.started":
    case "state.entered":
      return e.input === undefined ? e : { ...e, input: await ref(e.input, `the input (${e.type})`) };
    case "run.succeeded":
    case "state.exited":
    case "task.succeeded":
    case "task.waited":
      return e.output === undefined ? e : { ...e, output: await ref(e.output, `the output (${e.type})`) };
    case "map.items": {
      const items: unknown[] = [];
      for (const item of e.items) items.push(await ref(item, `an item of map "${e.task}"`));
      return { ...e, items };
    }
    default:
      return e;
  }
}

/** Whether JSON bytes may hold a reference (a native byte search; no parse). */
export function mayHoldReferences(data: Uint8Array): boolean {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).indexOf(REF_MARK) >= 0;
}

const REF_MARK = '"$pf';
