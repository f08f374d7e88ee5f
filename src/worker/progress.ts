/**
 * Progress throttling. An executor may call `ctx.progress()` in a tight loop; each
 * call would be one stored event. This lets one through at once, then at most one per
 * interval, always keeping the latest value for a trailing report so the last
 * progress shown is the last one reported. Closing drops a pending report, so no
 * progress event follows the attempt's result.
 */
import type { Clock, TimerHandle } from "../support/clock.js";

export type ProgressSink = (done: number, total: number | undefined) => void;

export class ProgressThrottle {
  private last = Number.NEGATIVE_INFINITY;
  private pending: { done: number; total: number | undefined } | undefined;
  private timer: TimerHandle;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly sink: ProgressSink,
  ) {}

  report(done: number, total: number | undefined): void {
    if (this.closed) return;
    const now = this.clock.now();
    if (this.timer === undefined && now - this.last >= this.intervalMs) {
      this.last = now;
      this.sink(done, total);
      return;
    }
    this.pending = { done, total };
    if (this.timer === undefined) {
      this.timer = this.clock.setTimeout(() => this.flush(), Math.max(0, this.intervalMs - (now - this.last)));
    }
  }

  close(): void {
    this.closed = true;
    this.pending = undefined;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (this.closed || pending === undefined) return;
    this.last = this.clock.now();
    this.sink(pending.done, pending.total);
  }
}
