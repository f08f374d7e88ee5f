/**
 * Sending task messages to the work-queue stream <P>_TASKS, and telling later whether one
 * is still there (fleet/vanished-tasks.ts asks, through `taskMessageStored`).
 *
 * A task message goes to `<p>.tasks.<namespace>.<name>[.<priority>]`, its trace context in
 * headers, deduplicated by `Nats-Msg-Id` = `dispatchId@epoch`. The stream sequence of every
 * message sent here is remembered (at least the newest 50,000), so a look-up asks for exactly that
 * message; one an earlier holder of the run sent is looked for among the stream's messages
 * (task-presence.ts), one read shared by the checks of a round.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { TransportOperationError, WireMessageInvalidError } from "../../errors/base.js";
import type { Logger } from "../../registry/types.js";
import { RecentMap } from "../../support/recent-map.js";
import { taskMessageSchema, type TaskMessage } from "../messages.js";
import type { Payloads } from "../payloads.js";
import { encodeFitting } from "./codec.js";
import { PUBLISH_RETRIES } from "./history.js";
import type { NatsNames } from "./names.js";
import type { PubAck, PublishOptions } from "./publisher.js";
import { storedSequences, taskMessagesPresent } from "./task-presence.js";
import { splitTraceContext, traceHeaderBytes } from "./trace-headers.js";

/** Stream sequences of the task messages a transport sent: at least the newest half of this many are kept (one entry is ~100 bytes). */
export const MAX_REMEMBERED_DISPATCHES = 100_000;
/** One read of the tasks stream answers the checks made within this long of it. */
const PRESENCE_REUSE_MS = 500;

export interface TaskDispatchContext {
  jsm: JetStreamManager;
  names: NatsNames;
  logger: Logger;
  payloads: Payloads;
  /** The server's max payload, once connected. */
  maxPayload(): number | undefined;
  /** Publish to JetStream and resolve with the PubAck (publisher.ts). */
  publish(subject: string, data: Uint8Array, options: PublishOptions): Promise<PubAck>;
  /** Whether the transport is closed: then nothing can be told (undefined). */
  isClosed(): boolean;
}

export class TaskDispatch {
  /** `dispatchId@epoch` -> stream sequence of the task messages sent here, oldest first. */
  private readonly dispatchedSeqs = new RecentMap<string, number>(MAX_REMEMBERED_DISPATCHES);
  /** `dispatchId@epoch` of the task messages being published now (not stored yet, or their ack is on its way). */
  private readonly dispatching = new Set<string>();
  /** One read of the tasks stream shared by the checks of one round (task-presence.ts). */
  private presence: { at: number; ids: Promise<Set<string> | undefined> } | undefined;

  constructor(private readonly c: TaskDispatchContext) {}

  /** Store `task` in the tasks stream; throws TransportOperationError (NATS_PUBLISH_FAILED) when it was not stored. */
  async send(task: TaskMessage): Promise<void> {
    const what = describeTask(task);
    const slash = typeof task.executor === "string" ? task.executor.indexOf("/") : -1;
    if (slash <= 0) throw new WireMessageInvalidError(what, [{ path: ["executor"], message: `must be "namespace/name", got ${JSON.stringify(task.executor)}` }]);
    const subject = this.c.names.subjects.task(task.executor.slice(0, slash), task.executor.slice(slash + 1), task.priority);
    // The trace context goes in headers (traceparent, tracestate), the rest in the body.
    const { body, headers } = splitTraceContext(task);
    const max = this.c.maxPayload();
    const data = await encodeFitting(taskMessageSchema, body, what, max === undefined || headers === undefined ? max : max - traceHeaderBytes(task), this.c.payloads);
    const msgID = `${task.dispatchId}@${task.epoch}`;
    this.dispatching.add(msgID);
    try {
      const ack = await this.c.publish(subject, data, headers === undefined ? { msgID, retries: PUBLISH_RETRIES } : { msgID, headers, retries: PUBLISH_RETRIES });
      if (ack.duplicate) this.c.logger.debug({ msgID }, "task already dispatched; duplicate dropped by JetStream");
      this.dispatchedSeqs.set(msgID, ack.seq);
    } catch (err) {
      throw new TransportOperationError(
        "NATS_PUBLISH_FAILED",
        `${what} was not stored in stream "${this.c.names.streams.tasks}": ${err instanceof Error ? err.message : String(err)}; check that nats-server is up with JetStream, then retry`,
        { cause: err },
      );
    } finally {
      this.dispatching.delete(msgID);
    }
  }

  /** Whether the task message of `dispatchId` at `epoch` is still stored (NatsTransport `taskMessageStored`). */
  async stored(dispatchId: string, epoch: number): Promise<boolean | undefined> {
    const msgID = `${dispatchId}@${epoch}`;
    if (this.c.isClosed() || this.dispatching.has(msgID)) return undefined;
    const seq = this.dispatchedSeqs.get(msgID);
    if (seq === undefined) return this.storedBySomeoneElse(dispatchId);
    try {
      // null: no message at that sequence (acked, terminated or deleted).
      return (await this.c.jsm.streams.getMessage(this.c.names.streams.tasks, { seq })) !== null;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return false;
      this.c.logger.debug({ err, msgID }, "could not look a task message up; asked again later");
      return undefined;
    }
  }

  /** `stored` of many attempts, in order: those sent here are checked together (task-presence.ts `storedSequences`). */
  async storedMany(attempts: readonly { dispatchId: string; epoch: number }[]): Promise<(boolean | undefined)[]> {
    const out: (boolean | undefined)[] = attempts.map(() => undefined);
    const bySeq: { i: number; seq: number }[] = [];
    for (const [i, a] of attempts.entries()) {
      const msgID = `${a.dispatchId}@${a.epoch}`;
      if (this.c.isClosed() || this.dispatching.has(msgID)) continue;
      const seq = this.dispatchedSeqs.get(msgID);
      if (seq === undefined) out[i] = await this.storedBySomeoneElse(a.dispatchId);
      else bySeq.push({ i, seq });
    }
    if (bySeq.length === 0) return out;
    let stored: boolean[] | undefined;
    try {
      stored = await storedSequences(this.c.jsm, this.c.names.streams.tasks, bySeq.map((x) => x.seq));
    } catch (err) {
      this.c.logger.debug({ err }, "could not read the tasks stream's state; asked again later");
      return out;
    }
    if (stored === undefined) {
      for (const { i } of bySeq) out[i] = await this.stored(attempts[i]!.dispatchId, attempts[i]!.epoch);
    } else {
      for (const [k, { i }] of bySeq.entries()) out[i] = stored[k];
    }
    return out;
  }

  /** A task message this transport did not send (an earlier holder of the run did): look for it in the stream. */
  private async storedBySomeoneElse(dispatchId: string): Promise<boolean | undefined> {
    const now = Date.now();
    if (this.presence === undefined || now - this.presence.at > PRESENCE_REUSE_MS) {
      this.presence = {
        at: now,
        ids: taskMessagesPresent(this.c.jsm, this.c.names.streams.tasks, this.c.names.subjects.tasks).catch((err: unknown) => {
          this.c.logger.debug({ err }, "could not read the tasks stream's messages; asked again later");
          return undefined;
        }),
      };
    }
    const ids = await this.presence.ids;
    return ids === undefined ? undefined : ids.has(dispatchId);
  }
}

export function describeTask(task: TaskMessage): string {
  return `task "${task.state}/${task.task}" (run "${task.runId}", executor "${task.executor}", attempt ${task.attempt})`;
}
