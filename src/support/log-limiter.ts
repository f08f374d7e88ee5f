/**
 * Rate-limited warnings for messages anyone with publish rights can send (malformed or
 * refused history messages, live signals, API requests): junk must be counted, not
 * logged one line per message. A flood of 1,000 junk reports in one history, read by
 * 200 requests, once gave 132,717 log lines and wedged a coordinator.
 *
 * Per kind of warning (a fixed, small set of keys), the first one logs at once; the next
 * ones within `windowMs` are only counted, and one line at the window's end says how
 * many there were (`suppressed`), with the last one's fields. So a kind costs at most
 * two lines per window, whatever the flood. The counters operators read
 * (`stats().malformed`) still count every message.
 */
import type { Logger } from "../registry/types.js";

/** Default window: one line at once, then at most one summary line per 10 s per kind. */
export const LOG_WINDOW_MS = 10_000;

interface Window {
  suppressed: number;
  last: { fields: Record<string, unknown>; msg: string } | undefined;
  timer: NodeJS.Timeout;
}

export class LogLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = LOG_WINDOW_MS,
  ) {}

  /**
   * A warning of kind `key`: logged now if none of its kind was within the window, else counted.
   * @example limiter.warn("malformed report", { subject, seq, reason }, "malformed report skipped");
   */
  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const open = this.windows.get(key);
    if (open !== undefined) {
      open.suppressed++;
      open.last = { fields, msg };
      return;
    }
    this.logger.warn(fields, msg);
    this.openWindow(key);
  }

  private openWindow(key: string): void {
    const window: Window = {
      suppressed: 0,
      last: undefined,
      timer: setTimeout(() => this.close(key, window), this.windowMs),
    };
    window.timer.unref();
    this.windows.set(key, window);
  }

  private close(key: string, window: Window): void {
    this.windows.delete(key);
    if (window.suppressed === 0 || window.last === undefined) return;
    this.logger.warn({ ...window.last.fields, suppressed: window.suppressed, windowMs: this.windowMs }, `${window.last.msg} (and ${window.suppressed} more like it in the last ${this.windowMs} ms, counted but not logged)`);
    // The flood may go on: keep counting in a new window rather than log the next one at once.
    this.openWindow(key);
  }

  /** Log what is still counted and stop the timers (on close). */
  flush(): void {
    for (const [key, window] of [...this.windows]) {
      clearTimeout(window.timer);
      this.windows.delete(key);
      if (window.suppressed > 0 && window.last !== undefined) this.logger.warn({ ...window.last.fields, suppressed: window.suppressed }, `${window.last.msg} (and ${window.suppressed} more like it, counted but not logged)`);
    }
  }
}
