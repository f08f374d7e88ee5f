/**
 * Draws a block of lines on a terminal and redraws it in place (ANSI cursor up,
 * erase line, erase below), at most once per `intervalMs` (default 100 ms, so about
 * ten redraws a second), ticking on its own so elapsed times advance between events.
 * Log lines and notices are written above the block (`interject`), so they do not
 * tear the display. What to draw comes from a `frame()` callback (see
 * `progress-render.ts`); this module only knows about the cursor.
 */
import { systemClock, type Clock, type TimerHandle } from "../support/clock.js";

export interface TerminalProgressOptions {
  /** Where the block is drawn (a terminal). */
  out: { write(chunk: string): unknown };
  /** The lines to show now (no newlines inside). */
  frame: () => string[];
  /** Fewest milliseconds between two redraws. Default 100. */
  intervalMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

export interface TerminalProgress {
  /** Something changed: redraw now if the last redraw is `intervalMs` old, else at the next tick. */
  update(): void;
  /** Write `text` (ending in a newline) above the block, to `to` (default `out`), then redraw. */
  interject(text: string, to?: { write(chunk: string): unknown }): void;
  /** Stop ticking, erase the block and show the cursor again. Idempotent. */
  stop(): void;
}

const ESC = "\u001b[";
const HIDE_CURSOR = `${ESC}?25l`;
const SHOW_CURSOR = `${ESC}?25h`;
const ERASE_LINE = `${ESC}2K`;
const ERASE_BELOW = `${ESC}J`;

/** Cursor to the start of the line `n` lines up. */
const up = (n: number): string => (n > 0 ? `\r${ESC}${n}A` : "\r");

/**
 * Start drawing.
 * @example
 * const view = createTerminalProgress({ out: process.stdout, frame: () => renderProgress(record, { now: Date.now() }) });
 * handle.on(() => view.update());
 * await handle.result();
 * view.stop();
 */
export function createTerminalProgress(options: TerminalProgressOptions): TerminalProgress {
  const { out, frame } = options;
  const intervalMs = options.intervalMs ?? 100;
  const clock = options.clock ?? systemClock;
  let drawn = 0;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let timer: TimerHandle = undefined;
  let stopped = false;

  const draw = (): void => {
    const lines = frame();
    out.write(`${up(drawn)}${lines.map((l) => `${ERASE_LINE}${l}\n`).join("")}${ERASE_BELOW}`);
    drawn = lines.length;
    lastDraw = clock.now();
  };

  const tick = (): void => {
    timer = undefined;
    if (stopped) return;
    if (clock.now() - lastDraw >= intervalMs) draw();
    schedule();
  };

  const schedule = (): void => {
    const wait = Math.max(0, lastDraw + intervalMs - clock.now());
    timer = clock.setTimeout(tick, wait === 0 ? intervalMs : wait);
    // A live display must never keep the process alive by itself.
    (timer as { unref?: () => void } | undefined)?.unref?.();
  };

  out.write(HIDE_CURSOR);
  draw();
  schedule();

  return {
    update() {
      if (stopped) return;
      if (clock.now() - lastDraw >= intervalMs) draw();
    },
    interject(text, to = out) {
      if (stopped) {
        to.write(text);
        return;
      }
      out.write(`${up(drawn)}${ERASE_BELOW}`);
      drawn = 0;
      to.write(text);
      draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      out.write(`${up(drawn)}${ERASE_BELOW}${SHOW_CURSOR}`);
      drawn = 0;
    },
  };
}
