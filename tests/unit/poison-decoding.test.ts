// Nothing a peer sends, and nothing an executor throws, makes a decoder recurse
// without a bound or throw: errors of any shape serialize, deep cause chains are
// capped and summarised on the way out and on the way in, and over-deep payloads
// are refused with a reason (received) or a clear error (sent).
import { describe, expect, it } from "vitest";
import { CAUSES_TRUNCATED, MAX_CAUSE_DEPTH, deserializeError, serializeError, serializedErrorSchema, type SerializedError } from "../../src/errors/serialize.js";
import { MAX_DECODE_DEPTH, decodeJsonText, jsonDepth } from "../../src/transport/decode.js";
import { reportSchema, WIRE_VERSION } from "../../src/transport/messages.js";
import { decodeMessage, encodeMessage } from "../../src/transport/nats/codec.js";

function chainDepth(e: SerializedError | undefined): number {
  let n = 0;
  for (let c = e; c !== undefined; c = c.cause) n++;
  return n;
}

function deepCause(levels: number): Error {
  let err = new Error("root cause");
  for (let i = 0; i < levels; i++) err = new Error(`level ${i}`, { cause: err });
  return err;
}

const report = (error: unknown) => ({
  v: WIRE_VERSION,
  kind: "report",
  type: "attempt.failed",
  runId: "r1",
  at: 1,
  state: "s",
  visit: 1,
  task: "t",
  attempt: 1,
  dispatchId: "r1/s/1/t/1",
  token: "0123456789abcdef0123",
  workerId: "w",
  durationMs: 1,
  error,
});

describe("poison-proof errors", () => {
  it("a 3,000-deep cause chain keeps its first causes and summarises the rest", () => {
    const s = serializeError(deepCause(3000));
    expect(chainDepth(s)).toBe(MAX_CAUSE_DEPTH + 2);
    let last = s;
    while (last.cause) last = last.cause;
    expect(last.code).toBe(CAUSES_TRUNCATED);
    expect(last.message).toContain("2,995 more causes not kept");
    expect(last.message).toContain("root cause");
    // The summary survives a second serialization (the coordinator wraps errors once more).
    const again = serializeError(new Error("wrapped", { cause: deserializeError(s) }));
    expect(chainDepth(again)).toBe(MAX_CAUSE_DEPTH + 2);
    expect(JSON.stringify(again)).toContain("2,995 more causes");
  });

  it("a cyclic cause chain ends", () => {
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as Error & { cause: unknown }).cause = b;
    expect(chainDepth(serializeError(a))).toBe(2);
  });

  it("thrown values of any shape serialize without throwing", () => {
    const nullProto = Object.create(null) as Record<string, unknown>;
    nullProto.self = nullProto;
    const badGetters = new Error("x");
    for (const key of ["stack", "message", "name", "code", "cause"]) {
      Object.defineProperty(badGetters, key, { get: () => { throw new Error(`getter ${key}`); } });
    }
    const hostile = new Proxy({}, { get: () => { throw new Error("trap"); }, getPrototypeOf: () => { throw new Error("trap"); }, ownKeys: () => { throw new Error("trap"); } });
    const weirdToString = { toJSON: () => { throw new Error("no"); }, toString: () => { throw new Error("no"); } };
    const values: unknown[] = [nullProto, badGetters, hostile, 10n, Symbol("s"), undefined, null, weirdToString, () => 1, "plain", 42, new Error("big".repeat(100_000))];
    for (const v of values) {
      const s = serializeError(v);
      expect(typeof s.message).toBe("string");
      expect(s.message.length).toBeLessThan(10_000);
      // and it travels: valid JSON accepted by the schema
      expect(serializedErrorSchema.safeParse(JSON.parse(JSON.stringify(s))).success).toBe(true);
    }
    expect(serializeError(10n).message).toContain("10");
    expect(serializeError(Symbol("s")).message).toContain("Symbol(s)");
    expect(serializeError(nullProto).message).toContain("[object Object]");
    expect(serializeError(badGetters).name).toBe("Error");
  });

  it("a received error nested 3,000 deep parses, with the rest summarised (no recursive parse)", () => {
    let raw: Record<string, unknown> = { name: "Error", code: "E", message: "deepest", retryable: true };
    for (let i = 0; i < 3000; i++) raw = { name: "Error", code: "E", message: `level ${i}`, retryable: true, cause: raw };
    const parsed = serializedErrorSchema.safeParse(raw);
    expect(parsed.success).toBe(true);
    const value = parsed.data!;
    expect(chainDepth(value)).toBeLessThanOrEqual(10);
    let last = value;
    while (last.cause) last = last.cause;
    expect(last.code).toBe(CAUSES_TRUNCATED);
    expect(last.message).toContain("deepest");
  });
});

describe("poison-proof decoding", () => {
  it("counts depth outside strings only", () => {
    expect(jsonDepth('{"a":[1,{"b":"]]}}[[{"}]}')).toBe(3);
    expect(jsonDepth('"\\"[["')).toBe(0);
  });

  it("a message nested deeper than the limit is refused with a reason, before any parse", () => {
    const text = "[".repeat(100_000) + "]".repeat(100_000);
    const decoded = decodeJsonText(reportSchema, text);
    expect(decoded).toEqual({ ok: false, reason: expect.stringContaining(`nested more than ${MAX_DECODE_DEPTH} levels`) });
  });

  it("a hostile report with a 3,000-deep cause chain within the depth limit cannot exist; one with a deep chain as text is refused, never thrown", () => {
    let chain = '{"name":"E","code":"E","message":"m","retryable":true}';
    for (let i = 0; i < 3000; i++) chain = `{"name":"E","code":"E","message":"m","retryable":true,"cause":${chain}}`;
    const text = JSON.stringify(report("X")).replace('"X"', chain);
    const decoded = decodeMessage(reportSchema, new TextEncoder().encode(text));
    expect(decoded.ok).toBe(false);
  });

  it("a report with an error nested just within the limit decodes with the chain capped", () => {
    let e: Record<string, unknown> = { name: "E", code: "E", message: "deepest", retryable: true };
    for (let i = 0; i < 100; i++) e = { name: "E", code: "E", message: `m${i}`, retryable: true, cause: e };
    const decoded = decodeMessage(reportSchema, new TextEncoder().encode(JSON.stringify(report(e))));
    expect(decoded.ok).toBe(true);
    if (decoded.ok && decoded.value.type === "attempt.failed") expect(chainDepth(decoded.value.error)).toBeLessThanOrEqual(10);
  });

  it("a schema that throws is reported, not thrown", () => {
    const throwing = { safeParse: () => { throw new RangeError("Maximum call stack size exceeded"); } } as unknown as typeof reportSchema;
    expect(decodeJsonText(throwing, "{}")).toEqual({ ok: false, reason: expect.stringContaining("RangeError") });
    expect(decodeMessage(reportSchema, Uint8Array.from([0xff, 0xfe, 0x00]))).toMatchObject({ ok: false });
  });

  it("sending an over-deep payload is a clear PAYLOAD_TOO_DEEP error naming the message", () => {
    let output: unknown = 1;
    for (let i = 0; i < 200; i++) output = [output];
    const r = { ...report(undefined), type: "attempt.succeeded", output };
    delete (r as { error?: unknown }).error;
    expect(() => encodeMessage(reportSchema, r, 'report of task "s/t"')).toThrow(expect.objectContaining({ code: "PAYLOAD_TOO_DEEP", message: expect.stringContaining('report of task "s/t"') }));
  });
});
