/**
 * Run histories on the <P>_EVENTS stream (protocol v3; receivers accept v2): a run's decisions on
 * `<p>.evt.<runId>.d`, its worker reports on `<p>.evt.<runId>.r`.
 *
 * Decisions are fenced with JetStream's expected-last-subject-sequence: the server
 * stores a batch only while the run's last decision is still at the sequence its
 * writer last saw, so two coordinators that both think they hold a run cannot both
 * write; the loser gets `FencedError`. The header is sent for 0 too, and the server
 * refuses a second "0" write with API error 10071 (`JetStreamApiCodes.StreamWrongLastSequence`).
 *
 * Reading a history replays `<p>.evt.<runId>.*` with a short-lived ordered consumer
 * (nats-server 2.9 has no batch direct get). Every stored message keeps its stream
 * sequence, so readers resume "after seq N".
 */
import { createHash } from "node:crypto";
import { DeliverPolicy, JetStreamApiCodes, type Consumer, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { TimeoutError, headers as newHeaders } from "@nats-io/transport-node";
import { FencedError, TransportOperationError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { childEndedMessageSchema, decisionSchema, reportSchema, reportSubjectSchema, signalMessageSchema, type ChildEndedMessage, type Decision, type HistoryMessage, type Report, type SignalMessage, type StoredMessage } from "../messages.js";
import { decodeMessage, encodeFitting } from "./codec.js";
import type { Payloads } from "../payloads.js";
import type { LogLimiter } from "../../support/log-limiter.js";
import type { NatsNames } from "./names.js";
import { PublishRefusedError, type PubAck, type PublishOptions } from "./publisher.js";

/** JetStream's fence header: store the message only while the subject's last message is at this sequence (0: none yet). */
const EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence";

/** Most messages pulled per request while replaying a run's history. */
export const READ_BATCH = 500;

/**
 * Tries of one JetStream publish (nats.js retries a timeout or "no responders" with its
 * backoff, 0.25 s rising to 5 s): on a cluster, a stream whose leader died has none for
 * the few seconds of its Raft election, and a worker's report or a coordinator's decision
 * should wait that out rather than fail. About 30 s in all when nothing answers.
 */
export const PUBLISH_RETRIES = 10;
const READ_EXPIRES_MS = 5_000;

export interface HistoryContext {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The hot-path publish (publisher.ts): reports and decisions go through it. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PubAck>;
  names: NatsNames;
  logger: Logger;
  /** Warnings about junk anyone may publish (malformed, refused), rate-limited: counted, not one line each. */
  limiter: LogLimiter;
  maxPayload(): number | undefined;
  /** Where values over its `inlineBytes` go (transport/payloads.ts). */
  payloads: Payloads | undefined;
  onMalformed(): void;
  onRefused(): void;
}

/** One stored message of a run as read back: its kind from the subject, its body when it is valid and this run's. */
export interface ReadMessage {
  seq: number;
  kind: "decision" | "report" | "unknown";
  message: HistoryMessage | undefined;
}

function describeDecision(d: Decision): string {
  return `decision batch of run "${d.runId}" (${d.events.length} event${d.events.length === 1 ? "" : "s"}, epoch ${d.epoch})`;
}

function describeReport(r: Report): string {
  return `report "${r.type}" of task "${r.state}/${r.task}" (run "${r.runId}", attempt ${r.attempt})`;
}

function publishFailed(ctx: HistoryContext, what: string, err: unknown): TransportOperationError {
  return new TransportOperationError(
    "NATS_PUBLISH_FAILED",
    `${what} was not stored in stream "${ctx.names.streams.events}": ${err instanceof Error ? err.message : String(err)}; check that nats-server is up with JetStream, then retry`,
    { cause: err },
  );
}

/**
 * Store a decision batch if the run's last decision is at `expectedLastSeq`; resolves with its sequence.
 * Throws `FencedError` when another writer got there first, `PayloadTooLargeError` for a batch over max_payload.
 *
 * @example
 * const seq = await appendDecision(ctx, decision, lastDecisionSeq);
 */
export async function appendDecision(ctx: HistoryContext, decision: Decision, expectedLastSeq: number): Promise<number> {
  const what = describeDecision(decision);
  const data = await encodeFitting(decisionSchema, decision, what, ctx.maxPayload(), ctx.payloads);
  try {
    // The msgID makes a retried publish (PUBLISH_RETRIES) idempotent: a batch stored before its lost ack comes back as a duplicate with its seq, not as fenced.
    // The hot publisher, not js.publish(): a decision is stored every phase, and js.publish() costs a request object, a timer and an error per call.
    const fence = newHeaders();
    fence.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expectedLastSeq));
    const ack = await ctx.publish(ctx.names.subjects.decisions(decision.runId), data, {
      headers: fence,
      // This very batch at this place in this run's history (the window is stream-wide): only a resend of the same bytes is a duplicate; another batch is fenced.
      msgID: `${decision.runId}#${expectedLastSeq}#${createHash("sha256").update(data).digest("base64url").slice(0, 22)}`,
      retries: PUBLISH_RETRIES,
    });
    return ack.seq;
  } catch (err) {
    if (err instanceof PublishRefusedError && err.errCode === JetStreamApiCodes.StreamWrongLastSequence) {
      throw new FencedError(decision.runId, expectedLastSeq, { cause: err });
    }
    throw publishFailed(ctx, what, err);
  }
}

/**
 * Store a worker's report; resolves on the server's PubAck.
 *
 * @example
 * await publishReport(ctx, report);
 */
export async function publishReport(ctx: HistoryContext, report: Report): Promise<void> {
  const what = describeReport(report);
  const data = await encodeFitting(reportSchema, report, what, ctx.maxPayload(), ctx.payloads);
  try {
    // A report stored twice (retried after a lost ack) is harmless: the fold takes an attempt's first verdict.
    await ctx.publish(ctx.names.subjects.reports(report.runId), data, { retries: PUBLISH_RETRIES });
  } catch (err) {
    throw publishFailed(ctx, what, err);
  }
}

/**
 * Store a signal on the run's report subject, with `Nats-Msg-Id` from its id so that
 * JetStream drops a repeat within the stream's duplicate window.
 *
 * @example
 * const { duplicate } = await appendSignal(ctx, signal);
 */
export async function appendSignal(ctx: HistoryContext, signal: SignalMessage): Promise<{ duplicate: boolean }> {
  const what = `signal "${signal.name}" (id "${signal.id}") of run "${signal.runId}"`;
  const data = await encodeFitting(signalMessageSchema, signal, what, ctx.maxPayload(), ctx.payloads);
  try {
    const ack = await ctx.js.publish(ctx.names.subjects.reports(signal.runId), data, { msgID: `signal:${signal.runId}:${signal.id}`, retries: PUBLISH_RETRIES });
    return { duplicate: ack.duplicate };
  } catch (err) {
    throw publishFailed(ctx, what, err);
  }
}

/**
 * Store a child run's end on its parent's report subject, with `Nats-Msg-Id` from the child's
 * run id, so that a repeat (stored again after a takeover) within the duplicate window is dropped.
 * @example await appendChildEnd(ctx, { v: 3, kind: "child", type: "child.ended", runId: parentId, child, status: "succeeded", output, at });
 */
export async function appendChildEnd(ctx: HistoryContext, message: ChildEndedMessage): Promise<{ duplicate: boolean }> {
  const what = `end of child run "${message.child}" of run "${message.runId}"`;
  const data = await encodeFitting(childEndedMessageSchema, message, what, ctx.maxPayload(), ctx.payloads);
  try {
    const ack = await ctx.js.publish(ctx.names.subjects.reports(message.runId), data, { msgID: `child:${message.runId}:${message.child}`, retries: PUBLISH_RETRIES });
    return { duplicate: ack.duplicate };
  } catch (err) {
    throw publishFailed(ctx, what, err);
  }
}

/**
 * Decode one stored message of `runId` (subject `<p>.evt.<runId>.<d|r>`). A body that fails its
 * schema is counted as malformed, one that names another run as refused; both are logged
 * (rate-limited: a history full of junk, read again and again, gives a count, not a line
 * per message) and come back without a message (their seq still counts).
 */
export function decodeStored(ctx: HistoryContext, runId: string, subject: string, seq: number, data: Uint8Array): ReadMessage {
  const suffix = subject.slice(subject.lastIndexOf(".") + 1);
  const kind = suffix === "d" ? "decision" : suffix === "r" ? "report" : "unknown";
  if (kind === "unknown") {
    ctx.onMalformed();
    ctx.limiter.warn("history unknown subject", { subject, seq }, "message on an unknown history subject skipped");
    return { seq, kind, message: undefined };
  }
  const decoded = kind === "decision" ? decodeMessage(decisionSchema, data) : decodeMessage(reportSubjectSchema, data);
  if (!decoded.ok) {
    ctx.onMalformed();
    ctx.limiter.warn(`history malformed ${kind}`, { subject, seq, reason: decoded.reason }, `malformed ${kind} skipped`);
    return { seq, kind, message: undefined };
  }
  if (decoded.value.runId !== runId) {
    ctx.onRefused();
    ctx.limiter.warn(`history refused ${kind}`, { subject, seq, runId: decoded.value.runId }, `${kind} stored under run "${runId}" names run "${decoded.value.runId}"; refused`);
    return { seq, kind, message: undefined };
  }
  return { seq, kind, message: decoded.value };
}

/**
 * The stream sequence of the run's last stored decision now (0: none yet), one message-get
 * of the subject's last message: how far a reader of the run's ends must read before an end
 * it saw is the run's latest (a later `run.retried` may follow it).
 */
export async function lastDecisionSeq(ctx: HistoryContext, runId: string): Promise<number> {
  const last = await ctx.jsm.streams.getMessage(ctx.names.streams.events, { last_by_subj: ctx.names.subjects.decisions(runId) });
  if (last === null) return 0;
  // Junk there is skipped by every follower, which would then never read that far: fall back to the first end read.
  return decodeStored(ctx, runId, last.subject, last.seq, last.data).message?.kind === "decision" ? last.seq : 0;
}

/**
 * Every stored message of one run, oldest first, with the sequence of its last decision
 * (0: none). Malformed and refused messages are skipped, but a `.d` message's seq counts
 * for `lastDecisionSeq` whatever it holds: the fence is about positions, not contents.
 *
 * @example
 * const { messages, lastDecisionSeq } = await readHistory(ctx, "run_0001");
 */
export async function readHistory(ctx: HistoryContext, runId: string): Promise<{ messages: StoredMessage[]; lastDecisionSeq: number }> {
  const consumer = await openReader(ctx, runId);
  const messages: StoredMessage[] = [];
  let lastDecisionSeq = 0;
  try {
    let remaining = (await consumer.info(true)).num_pending;
    while (remaining > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(remaining, READ_BATCH), expires: READ_EXPIRES_MS });
      let received = 0;
      for await (const m of batch) {
        received++;
        remaining = m.info.pending;
        const read = decodeStored(ctx, runId, m.subject, m.seq, m.data);
        if (read.kind === "decision") lastDecisionSeq = read.seq;
        if (read.message !== undefined) messages.push({ seq: read.seq, message: read.message });
      }
      if (received === 0) {
        throw new TransportOperationError(
          "NATS_READ_FAILED",
          `reading the history of run "${runId}" stalled with ${remaining} messages left in stream "${ctx.names.streams.events}"; check the server and retry`,
        );
      }
    }
    return { messages, lastDecisionSeq };
  } finally {
    await deleteConsumer(ctx.logger, consumer);
  }
}

/**
 * Tries to create a history reader. On a cluster that has lost a node, nats-server 2.9
 * may place a new one-replica consumer on the dead node, and that creation times out;
 * the next try is placed anew. A single server that does not answer fails as before.
 */
const OPEN_READER_TRIES = 4;

async function openReader(ctx: HistoryContext, runId: string): Promise<Consumer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await ctx.js.consumers.get(ctx.names.streams.events, { filter_subjects: ctx.names.subjects.history(runId), deliver_policy: DeliverPolicy.All });
    } catch (err) {
      if (err instanceof TimeoutError && attempt < OPEN_READER_TRIES) {
        ctx.logger.debug({ err, runId, attempt }, "creating a history reader timed out; trying again");
        continue;
      }
      throw new TransportOperationError("NATS_READ_FAILED", `cannot open the history of run "${runId}" in stream "${ctx.names.streams.events}": ${err instanceof Error ? err.message : String(err)}; check the server and retry`, {
        cause: err,
      });
    }
  }
}

/**
 * Purge a run's whole history (retention, prune).
 *
 * @example
 * await deleteHistory(ctx, "run_0001");
 */
export async function deleteHistory(ctx: HistoryContext, runId: string): Promise<void> {
  try {
    await ctx.jsm.streams.purge(ctx.names.streams.events, { filter: ctx.names.subjects.historyPurge(runId) });
    // The run's payloads go with it; one another kept run also holds stays (payload-store.ts).
    await ctx.payloads?.release(runId);
  } catch (err) {
    throw new TransportOperationError("NATS_PUBLISH_FAILED", `the history of run "${runId}" was not purged from stream "${ctx.names.streams.events}": ${err instanceof Error ? err.message : String(err)}; retry`, {
      cause: err,
    });
  }
}

/** Delete an ordered consumer we are done with; a failure only delays the server's own cleanup, so it is logged at debug. */
export async function deleteConsumer(logger: Logger, consumer: Consumer): Promise<void> {
  try {
    await consumer.delete();
  } catch (err) {
    logger.debug({ err }, "deleting an ephemeral history consumer failed; the server removes it after its inactivity threshold");
  }
}
