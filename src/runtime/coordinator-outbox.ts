/**
 * Ordered output of one run. Decisions are taken synchronously (a phase of 10,000
 * tasks is decided in one go); this queue sends them in batches:
 *
 *   1. every event of the batch, calls made in decision order, published together;
 *   2. each task message once the events queued before it are stored; each control
 *      message once every event queued before it is stored.
 *
 * So a task message never leaves before its task.dispatched event is stored (a worker's
 * attempt.started cannot precede it in the history), and events keep decision order as
 * long as the transport stores concurrent `publishEvent` calls in call order (the
 * memory transport does; so does one NATS connection). A transport error makes the
 * run broken (`onError`), and nothing more is sent — except a task message the
 * transport refuses for good (too large for the wire, not JSON): that is reported as a
 * failed attempt of its task (non-retryable, naming the task and the size), so the run
 * fails with the reason instead of breaking and being resumed into the same wall.
 */
import { PhaseflowError } from "../errors/base.js";
import { serializeError } from "../errors/serialize.js";
import type { ControlMessage, RunEvent, TaskMessage } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";

type Op = { kind: "event"; event: RunEvent } | { kind: "task"; message: TaskMessage } | { kind: "control"; message: ControlMessage };

export class Outbox {
  private queue: Op[] = [];
  private draining = false;
  private broken = false;

  constructor(
    private readonly transport: Transport,
    private readonly onError: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  event(event: RunEvent): void {
    this.push({ kind: "event", event });
  }

  task(message: TaskMessage): void {
    this.push({ kind: "task", message });
  }

  control(message: ControlMessage): void {
    this.push({ kind: "control", message });
  }

  /** Drop everything queued and send nothing more. */
  close(): void {
    this.broken = true;
    this.queue = [];
  }

  private push(op: Op): void {
    if (this.broken) return;
    this.queue.push(op);
    if (!this.draining) {
      this.draining = true;
      // Start on a later microtask, so a synchronous burst of decisions becomes one batch.
      queueMicrotask(() => void this.drain());
    }
  }

  /** A task message the transport will never accept becomes a failed attempt; anything else breaks the run. */
  private async refused(message: TaskMessage, err: unknown): Promise<void> {
    if (!(err instanceof PhaseflowError) || err.retryable) throw err;
    await this.transport.publishEvent({
      type: "attempt.failed",
      runId: message.runId,
      at: this.now(),
      state: message.state,
      visit: message.visit,
      task: message.task,
      attempt: message.attempt,
      dispatchId: message.dispatchId,
      workerId: "coordinator",
      error: serializeError(err),
      durationMs: 0,
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.broken) {
        const batch = this.queue;
        this.queue = [];
        // Events go out at once, in order. Each task message leaves as soon as the events
        // before it (its own task.dispatched among them) are stored — not after the whole
        // batch — so workers of a 10,000-task phase start while the rest is still stored.
        const events: Promise<void>[] = [];
        const sends: Promise<void>[] = [];
        let stored: Promise<unknown> = Promise.resolve();
        for (const op of batch) {
          if (op.kind === "event") {
            const p = this.transport.publishEvent(op.event);
            events.push(p);
            stored = p;
          } else if (op.kind === "task") {
            const message = op.message;
            sends.push(stored.then(() => this.transport.dispatch(message).catch((err: unknown) => this.refused(message, err))));
          } else {
            const message = op.message;
            const before = Promise.all(events);
            sends.push(before.then(() => this.transport.publishControl(message)));
          }
        }
        await Promise.all([...events, ...sends]);
      }
    } catch (err) {
      this.broken = true;
      this.queue = [];
      this.onError(err);
    } finally {
      this.draining = false;
    }
  }
}
