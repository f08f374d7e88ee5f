/**
 * The Transport port (protocol v3; receivers accept v2): everything the coordinator, workers and readers
 * need from the wire. The runtime and the worker library talk only to this interface;
 * `memory/` runs it in-process, `nats/` over JetStream. One contract suite
 * (tests/contract) runs against both, so they behave the same.
 *
 * A run's history is decisions (written by its leaseholder, fenced) and reports
 * (written by workers), each stored with a sequence number that grows with every
 * stored message; readers resume "after seq N" instead of comparing contents.
 *
 * Delivery of tasks is at-least-once: a task may be delivered again (worker died,
 * ack deadline passed), so workers report per `dispatchId` and a report settles only
 * the attempt it names, once.
 */
import type { Payloads } from "./payloads.js";
import type { ChildEndedMessage, ControlMessage, Decision, LiveSignal, Report, ReportSubjectMessage, SignalMessage, StoredMessage, TaskMessage } from "./messages.js";

export interface Subscription {
  /**
   * Stop receiving; for task consumers, waits until in-flight handlers settle, then
   * gives back (nak) any delivery they left unsettled, for another consumer to take.
   */
  stop(): Promise<void>;
}

export interface TaskDelivery {
  readonly message: TaskMessage;
  /** 1 on first delivery. */
  readonly deliveryCount: number;
  /** The message may carry payload references (transport/payloads.ts): resolve its input and parents through `Transport.payloads` before use. */
  readonly payloadRefs?: boolean;
  /** Tell the transport the attempt is alive (NATS: `working()`, resets ack_wait). */
  working(): void;
  /** Settle: done with this message (after its report is stored). */
  ack(): Promise<void>;
  /** Give the message back for another worker, optionally after `delayMs`. */
  nak(delayMs?: number): void;
  /** Drop the message for good (malformed, undeliverable, or redelivered too often). */
  term(): void;
}

export interface ConsumeOptions {
  /** Executor namespaces to take tasks of. */
  namespaces: readonly string[];
  /** Most unsettled deliveries held at once: a slot frees when its delivery is acked, nak'd or term'd. */
  concurrency: number;
  /**
   * Keep every delivery alive (`working()`) every this many ms until it is settled, so a
   * long attempt is not redelivered while it runs. Default: the adapter's (NATS: ack_wait / 3).
   */
  keepAliveMs?: number;
}

export interface TransportStats {
  /** Messages that failed their schema and were dropped. */
  malformed: number;
  /** Messages that parsed but were refused (a report on another run's subject). */
  refused: number;
  /** Reports decoded and handed to a `subscribeReports` handler (optional: adapters may not count it). */
  reportsDelivered?: number;
  /** Whole-history reads made (concurrent reads of one run share one; optional: adapters may not count it). */
  historyReads?: number;
}

export interface FollowOptions {
  /** Only the run's decisions (its state changes and verdicts), not every worker report: enough to wait for its end. Default false. */
  decisionsOnly?: boolean;
}

export interface TransportCapabilities {
  /** Largest message the transport stores, in bytes (NATS: the server's max_payload). */
  readonly maxPayload: number;
}

export interface Transport {
  /** `memory` or `nats`, for logs and diagnostics. */
  readonly kind: string;
  readonly capabilities: TransportCapabilities;
  /**
   * Where user values over `inlineBytes` are stored while messages carry references to them
   * (README "Payloads of any size"). Absent: every value travels in its message (the memory
   * transport keeps values in memory as they are).
   */
  readonly payloads?: Payloads;

  /**
   * Store a decision batch on its run's decision subject, fenced: it is stored only when
   * the last stored decision of the run has sequence `expectedLastSeq` (0: the run has no
   * decision yet). Resolves with the batch's sequence number.
   * @throws FencedError when another writer stored a decision since (this writer lost the run)
   */
  appendDecision(decision: Decision, expectedLastSeq: number): Promise<number>;
  /** Store a worker's report on its run's report subject; resolves once it is stored. */
  publishReport(report: Report): Promise<void>;
  /**
   * Store a signal on its run's report subject (no lease needed; the run's decider consumes
   * it). `duplicate`: the transport already held a signal with this id and dropped this one
   * (NATS: within the stream's duplicate window; the fold drops later repeats anyway).
   */
  appendSignal(signal: SignalMessage): Promise<{ duplicate: boolean }>;
  /**
   * Store a child run's end on its PARENT run's report subject (`message.runId`), like a
   * signal: no lease needed, the parent's decider consumes it. `duplicate` as for signals
   * (NATS: the same child's end within the duplicate window); the fold takes a child's first end.
   */
  appendChildEnd(message: ChildEndedMessage): Promise<{ duplicate: boolean }>;
  /** Send a live signal (attempt started, progress, heartbeat): not stored, best effort. */
  publishLive(signal: LiveSignal): void;

  /** Every stored message of one run, in order, with the sequence number of its last decision. */
  readHistory(runId: string): Promise<{ messages: StoredMessage[]; lastDecisionSeq: number }>;
  /**
   * Deliver the run's reports (and signals) stored after `afterSeq`, in order, and every later
   * one as it is stored, until stopped. Reports of other runs are never delivered (nor decoded).
   */
  subscribeReports(runId: string, afterSeq: number, handler: (seq: number, report: ReportSubjectMessage) => void): Promise<Subscription>;
  /** Deliver the run's whole history after `afterSeq` (decisions and reports), then live: for followers and views. */
  followHistory(runId: string, afterSeq: number, handler: (stored: StoredMessage) => void, options?: FollowOptions): Promise<Subscription>;
  /** Live signals of one run. */
  subscribeLive(runId: string, handler: (signal: LiveSignal) => void): Promise<Subscription>;

  /** Queue one task attempt for the workers serving its executor's namespace. Deduplicated by `dispatchId` and epoch. */
  dispatch(task: TaskMessage): Promise<void>;
  /** Take task attempts; the handler must settle each delivery (ack/nak/term). */
  consumeTasks(options: ConsumeOptions, handler: (delivery: TaskDelivery) => Promise<void>): Promise<Subscription>;

  /** Broadcast a control message to every worker. */
  publishControl(message: ControlMessage): Promise<void>;
  subscribeControl(handler: (message: ControlMessage) => void): Promise<Subscription>;

  /** Remove a run's whole history (retention, prune). */
  deleteHistory(runId: string): Promise<void>;

  stats(): TransportStats;
  /** Stop everything; pending handlers are not awaited beyond their stop(). */
  close(): Promise<void>;
}
