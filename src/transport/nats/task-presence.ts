/**
 * Which task messages the tasks stream holds right now, by dispatch id.
 *
 * A coordinator remembers the stream sequence of every task message it sent, so it can
 * ask for exactly that message (transport.ts `taskMessageStored`). A run it took over
 * may hold attempts an earlier holder dispatched: their decision is in the history, but
 * whether their message ever reached the stream is not. The earlier holder sends a new
 * run's first task messages only once its claim is stored, so a kill -9 between the two
 * leaves an attempt that no worker will ever see. Such a run would wait for the watchdog
 * (10 minutes by default).
 *
 * This reads the stream's messages through the message-get API (`next_by_subj`, which
 * nats-server 2.9 serves: a second consumer is not allowed on a work-queue stream) and
 * collects the dispatch ids of their `Nats-Msg-Id` headers (`dispatchId@epoch`).
 * It gives up (undefined: cannot tell) on a stream holding more than `max` messages, so a
 * deep backlog costs nothing here and is left to the watchdog.
 *
 * The messages a coordinator sent itself are checked by sequence, all of a run's at once
 * (`storedSequences`): a work queue removes acked messages, so a sequence below the
 * stream's first or among its interior deletes is gone. One or two stream-info requests
 * answer for a wide phase's thousands of queued attempts, which were a message get each.
 */
import type { JetStreamManager } from "@nats-io/jetstream";

/** The most task messages read to look for attempts of earlier holders. */
export const MAX_SCANNED_TASK_MESSAGES = 2_000;

/**
 * The dispatch ids of the task messages stored in `stream` under `filter`, or undefined
 * when the stream holds more than `max` of them.
 *
 * @example
 * const ids = await taskMessagesPresent(jsm, "PF_TASKS", "pf.task.>");
 * ids?.has("d-1"); // its message is still waiting (or being worked on) in the stream
 */
export async function taskMessagesPresent(jsm: JetStreamManager, stream: string, filter: string, max = MAX_SCANNED_TASK_MESSAGES): Promise<Set<string> | undefined> {
  const { messages, first_seq: first } = (await jsm.streams.info(stream)).state;
  const ids = new Set<string>();
  if (messages === 0) return ids;
  if (messages > max) return undefined;
  let seq = first;
  // Messages stored while this reads are read too; the bound keeps a filling stream from holding it here.
  for (let read = 0; read <= max; read++) {
    // nats.js types the request without `next_by_subj`; the server (2.9 and later) takes it.
    const message = await jsm.streams.getMessage(stream, { seq, next_by_subj: filter } as unknown as { seq: number });
    if (message === null) return ids;
    const msgId = message.header?.get("Nats-Msg-Id") ?? "";
    const at = msgId.lastIndexOf("@");
    if (at > 0) ids.add(msgId.slice(0, at));
    seq = message.seq + 1;
  }
  return undefined;
}

/** Most interior deletes listed in one stream info (a few bytes of JSON each); beyond, `storedSequences` cannot tell. */
export const MAX_DELETED_DETAILS = 20_000;

/**
 * Whether the messages at `seqs` are still in `stream`, from its state: below its first
 * sequence or among its interior deletes is gone. Undefined when it has more than
 * `maxDeleted` interior deletes to list (ask for the messages one by one instead).
 *
 * @example
 * const stored = await storedSequences(jsm, "PF_TASKS", [41, 42]); // e.g. [false, true]
 */
export async function storedSequences(jsm: JetStreamManager, stream: string, seqs: readonly number[], maxDeleted = MAX_DELETED_DETAILS): Promise<boolean[] | undefined> {
  let state = (await jsm.streams.info(stream)).state;
  let deleted: Set<number> | undefined;
  if (state.num_deleted > 0 && seqs.some((seq) => seq >= state.first_seq && seq <= state.last_seq)) {
    if (state.num_deleted > maxDeleted) return undefined;
    // The bounds of the same answer as its deletes: messages removed in between are below its first sequence.
    state = (await jsm.streams.info(stream, { deleted_details: true })).state;
    deleted = new Set(state.deleted ?? []);
  }
  const { first_seq: first, last_seq: last } = state;
  return seqs.map((seq) => seq >= first && seq <= last && deleted?.has(seq) !== true);
}
