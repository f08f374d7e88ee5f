/**
 * The history part of the transport contract (see transport-contract.ts): fenced
 * decisions, reading and following a run's history by sequence number, refusing
 * and counting bad stored messages, live signals, control broadcasts, deletion and
 * payload limits.
 */
import { describe, expect, it } from "vitest";
import { FencedError } from "../../src/errors/base.js";
import { WIRE_VERSION, type ControlMessage, type LiveSignal, type Report, type ReportSubjectMessage, type SignalMessage, type StoredMessage } from "../../src/transport/messages.js";
import type { Transport } from "../../src/transport/port.js";
import { Collector, makeDecision, makeLive, makeReport, roundTrip, uniq } from "./contract-support.js";
import type { ContractContext } from "./transport-contract.js";

export function describeHistoryContract(ctx: ContractContext): void {
  const { name, features } = ctx;
  const connect = (): Promise<Transport> => ctx.connect();

  describe("fencing", () => {
    it(`${name} transport - of two writers with the same expectedLastSeq exactly one stores, the other gets FencedError`, async () => {
      const [a, b] = [await connect(), await connect()];
      const run = ctx.run();
      const results = await Promise.allSettled([a.appendDecision(makeDecision(run, 1, { by: "a" }), 0), b.appendDecision(makeDecision(run, 2, { by: "b" }), 0)]);
      const stored = results.filter((r) => r.status === "fulfilled");
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      expect(stored).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]!.reason).toBeInstanceOf(FencedError);
      expect(refused[0]!.reason).toMatchObject({ code: "DECISION_FENCED", runId: run });
      const history = await a.readHistory(run);
      expect(history.messages).toHaveLength(1);
      expect(history.lastDecisionSeq).toBe((stored[0] as PromiseFulfilledResult<number>).value);
    });

    it(`${name} transport - refuses expectedLastSeq 0 once the run has a decision; reports do not move the fence`, async () => {
      const t = await connect();
      const run = ctx.run();
      const first = await t.appendDecision(makeDecision(run, 1), 0);
      await expect(t.appendDecision(makeDecision(run, 2), 0)).rejects.toBeInstanceOf(FencedError);
      await t.publishReport(makeReport(run, 1));
      const second = await t.appendDecision(makeDecision(run, 3, { through: first + 1 }), first);
      expect(second).toBeGreaterThan(first);
      await expect(t.appendDecision(makeDecision(run, 4), first)).rejects.toMatchObject({ code: "DECISION_FENCED" });
      // Another run's fence is its own.
      await expect(t.appendDecision(makeDecision(`run_${uniq()}`, 1), 0)).resolves.toBeGreaterThan(second);
    });
  });

  describe("history", () => {
    it(`${name} transport - reads a run's history in order with growing seqs and the seq of its last decision`, async () => {
      const [t, reader] = [await connect(), await connect()];
      const run = ctx.run();
      const other = `run_${uniq()}`;
      const d1 = await t.appendDecision(makeDecision(run, 1), 0);
      await t.publishReport(makeReport(run, 1));
      await t.publishReport(makeReport(other, 9));
      const d2 = await t.appendDecision(makeDecision(run, 2), d1);
      await t.publishReport(makeReport(run, 2));
      const { messages, lastDecisionSeq } = await reader.readHistory(run);
      expect(messages.map((m) => m.message)).toEqual([makeDecision(run, 1), makeReport(run, 1), makeDecision(run, 2), makeReport(run, 2)]);
      const seqs = messages.map((m) => m.seq);
      expect(seqs[0]).toBe(d1);
      expect(seqs[2]).toBe(d2);
      expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
      expect(new Set(seqs).size).toBe(4);
      expect(lastDecisionSeq).toBe(d2);
      expect(await reader.readHistory(`run_${uniq()}`)).toEqual({ messages: [], lastDecisionSeq: 0 });
    });

    it(`${name} transport - appendSignal stores a signal on the report subject, in order with reports, for readers and the run's report subscription`, async () => {
      const [t, sender, coordinator] = [await connect(), await connect(), await connect()];
      const run = ctx.run();
      const signal: SignalMessage = { v: WIRE_VERSION, kind: "signal", type: "signal.received", runId: run, at: 5, name: "go", id: `sig-${uniq()}`, payload: { ok: true } };
      const got = new Collector<ReportSubjectMessage>();
      await coordinator.subscribeReports(run, 0, (_, m) => got.push(m));
      await t.publishReport(makeReport(run, 1));
      await expect(sender.appendSignal(signal)).resolves.toEqual({ duplicate: false });
      await t.publishReport(makeReport(run, 2));
      await got.waitFor(3, "reports and signals");
      expect(got.items.map((m) => m.type)).toEqual(["attempt.succeeded", "signal.received", "attempt.succeeded"]);
      const { messages } = await t.readHistory(run);
      expect(messages.map((m) => m.message)).toEqual([makeReport(run, 1), signal, makeReport(run, 2)]);
    });

    it(`${name} transport - subscribeReports after a seq delivers only that run's later reports, then new ones, in order`, async () => {
      const [t, coordinator] = [await connect(), await connect()];
      const run = ctx.run();
      const other = `run_${uniq()}`;
      await t.publishReport(makeReport(run, 1));
      await t.appendDecision(makeDecision(run, 1), 0);
      await t.publishReport(makeReport(run, 2));
      const { messages } = await t.readHistory(run);
      const got = new Collector<{ seq: number; report: Report }>();
      await coordinator.subscribeReports(run, messages[0]!.seq, (seq, report) => {
        if (report.kind === "report") got.push({ seq, report });
      });
      await t.publishReport(makeReport(other, 7));
      await t.publishReport(makeReport(run, 3));
      await got.waitFor(2, "reports");
      await roundTrip(coordinator);
      expect(got.items.map((i) => i.report)).toEqual([makeReport(run, 2), makeReport(run, 3)]);
      expect(got.items[0]!.seq).toBe(messages[2]!.seq);
      expect(got.items[1]!.seq).toBeGreaterThan(got.items[0]!.seq);
    });

    it(`${name} transport - followHistory delivers decisions and reports after a seq, then live ones`, async () => {
      const [t, follower] = [await connect(), await connect()];
      const run = ctx.run();
      const d1 = await t.appendDecision(makeDecision(run, 1), 0);
      await t.publishReport(makeReport(run, 1));
      const got = new Collector<StoredMessage>();
      await follower.followHistory(run, 0, got.push);
      await got.waitFor(2, "stored messages");
      await t.appendDecision(makeDecision(run, 2), d1);
      await got.waitFor(3, "stored messages");
      expect(got.items.map((s) => s.message)).toEqual([makeDecision(run, 1), makeReport(run, 1), makeDecision(run, 2)]);
      expect((await t.readHistory(run)).messages).toEqual(got.items);
      const later = new Collector<StoredMessage>();
      await follower.followHistory(run, d1, later.push);
      await later.waitFor(2, "stored messages after the first decision");
      expect(later.items).toEqual(got.items.slice(1));
    });

    it(`${name} transport - followHistory with decisionsOnly delivers the decisions and none of the reports`, async () => {
      const [t, follower] = [await connect(), await connect()];
      const run = ctx.run();
      const d1 = await t.appendDecision(makeDecision(run, 1), 0);
      await t.publishReport(makeReport(run, 1));
      const got = new Collector<StoredMessage>();
      await follower.followHistory(run, 0, got.push, { decisionsOnly: true });
      await got.waitFor(1, "decisions");
      await t.publishReport(makeReport(run, 2));
      await t.appendDecision(makeDecision(run, 2), d1);
      await got.waitFor(2, "decisions");
      await roundTrip(follower);
      expect(got.items.map((s) => s.message)).toEqual([makeDecision(run, 1), makeDecision(run, 2)]);
    });

    it(`${name} transport - refuses and counts a report stored under another run's subject`, async () => {
      const [t, coordinator] = [await connect(), await connect()];
      const run = ctx.run();
      const got = new Collector<Report>();
      await coordinator.subscribeReports(run, 0, (_, r) => {
        if (r.kind === "report") got.push(r);
      });
      await ctx.harness().inject("report", makeReport(`run_${uniq()}`, 1), run);
      await ctx.harness().inject("decision", makeDecision(`run_${uniq()}`, 1), run);
      await t.publishReport(makeReport(run, 2));
      await got.waitFor(1, "the valid report");
      expect(got.items).toEqual([makeReport(run, 2)]);
      expect(coordinator.stats().refused).toBe(1);
      const { messages } = await coordinator.readHistory(run);
      expect(messages.map((m) => m.message)).toEqual([makeReport(run, 2)]);
      expect(coordinator.stats().refused).toBe(3);
    });

    it(`${name} transport - counts and skips malformed stored messages; a malformed decision still moves the fence`, async () => {
      const [t, reader] = [await connect(), await connect()];
      const run = ctx.run();
      const d1 = await t.appendDecision(makeDecision(run, 1), 0);
      await ctx.harness().inject("report", { runId: run, kind: "report", type: "attempt.exploded" }, run);
      await ctx.harness().inject("decision", { runId: run, kind: "decision", events: [] }, run);
      const { messages, lastDecisionSeq } = await reader.readHistory(run);
      expect(messages.map((m) => m.message)).toEqual([makeDecision(run, 1)]);
      expect(reader.stats().malformed).toBe(2);
      expect(lastDecisionSeq).toBeGreaterThan(d1);
      await expect(t.appendDecision(makeDecision(run, 2), d1)).rejects.toBeInstanceOf(FencedError);
      await expect(t.appendDecision(makeDecision(run, 2), lastDecisionSeq)).resolves.toBeGreaterThan(lastDecisionSeq);
    });

    it(`${name} transport - deleteHistory removes one run's history and its fence, not another's`, async () => {
      const t = await connect();
      const run = ctx.run();
      const other = `run_${uniq()}`;
      await t.appendDecision(makeDecision(run, 1), 0);
      await t.publishReport(makeReport(run, 1));
      await t.appendDecision(makeDecision(other, 1), 0);
      await t.deleteHistory(run);
      expect(await t.readHistory(run)).toEqual({ messages: [], lastDecisionSeq: 0 });
      expect((await t.readHistory(other)).messages).toHaveLength(1);
      await expect(t.appendDecision(makeDecision(run, 2), 0)).resolves.toBeGreaterThan(0);
    });

    // The fast wire (embedded default) encodes nothing, so it has no size to check (embedded runs do not enforce the fleet's payload limit yet).
    if (features.validates) {
      it(`${name} transport - refuses a decision batch over capabilities.maxPayload with PAYLOAD_TOO_LARGE`, async () => {
        const t = await connect();
        const run = ctx.run();
        const big = makeDecision(run, 1, { events: [{ type: "run.cancelled", reason: "x".repeat(t.capabilities.maxPayload) }] });
        await expect(t.appendDecision(big, 0)).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
        expect(await t.readHistory(run)).toEqual({ messages: [], lastDecisionSeq: 0 });
      });
    }
  });

  describe("live signals and control", () => {
    it(`${name} transport - delivers a run's live signals to its subscribers only`, async () => {
      const [worker, viewer] = [await connect(), await connect()];
      const run = ctx.run();
      const got = new Collector<LiveSignal>();
      await viewer.subscribeLive(run, got.push);
      worker.publishLive(makeLive(`run_${uniq()}`, 1));
      for (let i = 1; i <= 3; i++) worker.publishLive(makeLive(run, i));
      await got.waitFor(3, "live signals");
      expect(got.items).toEqual([makeLive(run, 1), makeLive(run, 2), makeLive(run, 3)]);
    });

    it(`${name} transport - broadcasts a control message to every subscriber of every connection`, async () => {
      const [a, b, producer] = [await connect(), await connect(), await connect()];
      const got = [new Collector<ControlMessage>(), new Collector<ControlMessage>(), new Collector<ControlMessage>()] as const;
      await a.subscribeControl(got[0].push);
      await a.subscribeControl(got[1].push);
      await b.subscribeControl(got[2].push);
      const message: ControlMessage = { v: 2, type: "cancel.run", runId: ctx.run(), reason: "contract", round: 0 };
      await producer.publishControl(message);
      await Promise.all(got.map((c) => c.waitFor(1, "control message")));
      for (const c of got) expect(c.items).toEqual([message]);
    });

    it(`${name} transport - rejects calls after close() with TRANSPORT_CLOSED`, async () => {
      const t = await connect();
      await t.close();
      await expect(t.appendDecision(makeDecision(ctx.run(), 1), 0)).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
      await expect(t.publishReport(makeReport(ctx.run(), 1))).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
      await expect(t.subscribeReports(ctx.run(), 0, () => undefined)).rejects.toMatchObject({ code: "TRANSPORT_CLOSED" });
      expect(() => t.publishLive(makeLive(ctx.run(), 1))).not.toThrow();
    });
  });
}
