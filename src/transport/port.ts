/**
 * The Transport port: everything the coordinator and workers need from the wire.
 * The runtime and the worker library talk only to this interface; `memory/` runs
 * it in-process, `nats/` over JetStream. One contract suite (tests/contract) runs
 * against both, so they behave the same.
 *
 * Delivery is at-least-once: a task may be delivered again (worker died, ack
 * deadline passed), so workers report per `dispatchId` and the coordinator
 * ignores reports it has already settled.
 */
import type { ControlMessage, RunEvent, TaskMessage } from "./messages.js";

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
  /** Tell the transport the attempt is alive (NATS: `working()`, resets ack_wait). */
  working(): void;
  /** Settle: done with this message (after its result event is stored). */
  ack(): Promise<void>;
  /** Give the message back for another worker, optionally after `delayMs`. */
  nak(delayMs?: number): void;
  /** Drop the message for good (malformed, or redelivered too often). */
  term(): void;
}

export interface ConsumeOptions {
  /** Executor namespaces to take tasks of. */
  namespaces: readonly string[];
  /** Most unsettled deliveries held at once: a slot frees when its delivery is acked, nak'd or term'd. */
  concurrency: number;
}

export interface TransportStats {
  /** Messages that failed their schema and were dropped. */
  malformed: number;
}

export interface Transport {
  /** `memory` or `nats`, for logs and diagnostics. */
  readonly kind: string;

  /** Append an event to its run's durable history. Resolves once it is stored. */
  publishEvent(event: RunEvent): Promise<void>;
  /** Receive every event of every run from now on, in publish order per run. */
  subscribeEvents(handler: (event: RunEvent) => void): Promise<Subscription>;
  /** The whole stored history of one run, in order. */
  readRunEvents(runId: string): Promise<RunEvent[]>;

  /** Queue one task attempt for the workers serving its executor's namespace. Deduplicated by `dispatchId`. */
  dispatch(task: TaskMessage): Promise<void>;
  /** Take task attempts; the handler must settle each delivery (ack/nak/term). */
  consumeTasks(options: ConsumeOptions, handler: (delivery: TaskDelivery) => Promise<void>): Promise<Subscription>;

  /** Broadcast a control message to every worker. */
  publishControl(message: ControlMessage): Promise<void>;
  subscribeControl(handler: (message: ControlMessage) => void): Promise<Subscription>;

  stats(): TransportStats;
  /** Stop everything; pending handlers are not awaited beyond their stop(). */
  close(): Promise<void>;
}
