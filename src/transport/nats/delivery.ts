/**
 * One task delivery as the worker sees it (`TaskDelivery`), over a JetStream
 * message. A delivery holds one of its consumer's handler slots until it is
 * settled (ack, nak, term). Until then the adapter itself sends `working()` every
 * `keepAliveMs` (default ack_wait / 3; one ticker per consumer, task-consumer.ts),
 * whether or not the handler has returned, so
 * a long attempt is never redelivered while it runs and the worker need not keep
 * it alive. Only a handler that throws gives its message back (nak); a consumer
 * that stops gives back what is unsettled. Settling twice does nothing.
 */
import { ClosedConnectionError, DrainingConnectionError } from "@nats-io/transport-node";
import { TransportOperationError } from "../../errors/base.js";
import type { TaskMessage } from "../messages.js";
import type { TaskDelivery } from "../port.js";
import { mayHoldReferences } from "../payloads.js";
import type { PulledMessage } from "./pull.js";

type State = "held" | "settled";

export class NatsDelivery implements TaskDelivery {
  readonly deliveryCount: number;
  readonly payloadRefs: boolean;
  private state: State = "held";
  /** The connection is gone: nothing left to keep alive (the server redelivers after ack_wait). */
  private keepAliveDead = false;

  /**
   * @param onRelease called exactly once, when the delivery stops holding its slot.
   * @example
   * const d = new NatsDelivery(msg, message, () => slots.release(), (err) => logger.warn({ err }, "keep-alive failed"));
   * await handler(d).finally(() => d.handlerFinished(false));
   */
  constructor(
    private readonly msg: PulledMessage,
    readonly message: TaskMessage,
    private readonly onRelease: () => void,
    private readonly onKeepAliveFailed: (err: unknown) => void,
  ) {
    this.deliveryCount = msg.info.deliveryCount;
    this.payloadRefs = mayHoldReferences(msg.data);
  }

  /** Still holding its slot: not settled. */
  get held(): boolean {
    return this.state === "held";
  }

  working(): void {
    if (this.state !== "held") return;
    this.msg.working();
  }

  /** The automatic working(): once the connection is gone, the server redelivers after ack_wait and there is nothing left to keep alive. */
  keepAliveTick(): void {
    if (this.keepAliveDead) return;
    try {
      this.working();
    } catch (err) {
      this.keepAliveDead = true;
      if (!(err instanceof ClosedConnectionError || err instanceof DrainingConnectionError)) this.onKeepAliveFailed(err);
    }
  }

  ack(): Promise<void> {
    if (!this.release("settled")) return Promise.resolve();
    try {
      // Not confirmed (no round trip per task): the report is stored already, and an ack that
      // got lost only means one more delivery, whose report the coordinator refuses.
      this.msg.ack();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(
        new TransportOperationError(
          "NATS_ACK_FAILED",
          `ack of task "${this.message.state}/${this.message.task}" (dispatch ${this.message.dispatchId}) could not be sent: ${err instanceof Error ? err.message : String(err)}; it may be delivered again, which the coordinator tolerates`,
          { cause: err },
        ),
      );
    }
  }

  nak(delayMs?: number): void {
    if (this.release("settled")) this.msg.nak(delayMs);
  }

  term(): void {
    if (this.release("settled")) this.msg.term();
  }

  /** The handler returned (or threw): a throw gives the message back; otherwise it stays alive until settled. */
  handlerFinished(threw: boolean): void {
    if (threw) this.nak();
  }

  /** The consumer is stopping: hand an unsettled delivery straight back to the server. */
  giveBack(): void {
    this.nak();
  }

  private release(to: Exclude<State, "held">): boolean {
    if (this.state !== "held") return false;
    this.state = to;
    this.onRelease();
    return true;
  }
}
