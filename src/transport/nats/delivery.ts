/**
 * One task delivery as the worker sees it (`TaskDelivery`), over a JetStream
 * message. A delivery holds one of its consumer's handler slots until it is
 * settled (ack, nak, term) or expires: while the handler runs, `working()` goes to
 * the server every ackWaitMs/3 so a long attempt is not redelivered; once the
 * handler returns without settling, the delivery expires ackWaitMs after its last
 * sign of life, as the server's copy does, and the server redelivers it. A late
 * settle of an expired delivery does nothing (the message belongs to its
 * redelivery by then), as in the memory transport.
 */
import type { JsMsg } from "@nats-io/jetstream";
import { TransportOperationError } from "../../errors/base.js";
import type { TaskMessage } from "../messages.js";
import type { TaskDelivery } from "../port.js";

type State = "held" | "settled" | "expired";

export class NatsDelivery implements TaskDelivery {
  readonly deliveryCount: number;
  private state: State = "held";
  private lastActivity = Date.now();
  private keepAlive: ReturnType<typeof setInterval> | undefined;
  private expiry: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param onRelease called exactly once, when the delivery stops holding its slot.
   * @example
   * const d = new NatsDelivery(msg, message, 30_000, () => slots.release());
   * await handler(d).finally(() => d.handlerFinished(false));
   */
  constructor(
    private readonly msg: JsMsg,
    readonly message: TaskMessage,
    private readonly ackWaitMs: number,
    private readonly onRelease: () => void,
  ) {
    this.deliveryCount = msg.info.deliveryCount;
    this.keepAlive = setInterval(() => this.working(), Math.max(100, Math.floor(ackWaitMs / 3)));
  }

  /** Still holding its slot: neither settled nor expired. */
  get held(): boolean {
    return this.state === "held";
  }

  working(): void {
    if (this.state !== "held") return;
    this.lastActivity = Date.now();
    this.msg.working();
  }

  async ack(): Promise<void> {
    if (!this.release("settled")) return;
    try {
      await this.msg.ackAck();
    } catch (err) {
      throw new TransportOperationError(
        "NATS_ACK_FAILED",
        `ack of task "${this.message.state}/${this.message.task}" (dispatch ${this.message.dispatchId}) was not confirmed: ${err instanceof Error ? err.message : String(err)}; it may be delivered again, which the coordinator tolerates`,
        { cause: err },
      );
    }
  }

  nak(delayMs?: number): void {
    if (this.release("settled")) this.msg.nak(delayMs);
  }

  term(): void {
    if (this.release("settled")) this.msg.term();
  }

  /** The handler returned (or threw): stop the automatic working(); a throw gives the message back. */
  handlerFinished(threw: boolean): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
    if (this.state !== "held") return;
    if (threw) this.nak();
    else this.scheduleExpiry();
  }

  /** The consumer is stopping: hand an unsettled delivery straight back to the server. */
  giveBack(): void {
    this.nak();
  }

  private scheduleExpiry(): void {
    const due = this.lastActivity + this.ackWaitMs - Date.now();
    this.expiry = setTimeout(() => {
      if (this.state !== "held") return;
      if (Date.now() - this.lastActivity >= this.ackWaitMs) this.release("expired");
      else this.scheduleExpiry(); // working() was called meanwhile
    }, Math.max(0, due));
  }

  private release(to: Exclude<State, "held">): boolean {
    if (this.state !== "held") return false;
    this.state = to;
    clearInterval(this.keepAlive);
    clearTimeout(this.expiry);
    this.onRelease();
    return true;
  }
}
