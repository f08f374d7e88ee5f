/**
 * A pump that runs one asynchronous pass at a time and coalesces requests: a request while a
 * pass runs makes exactly one more pass run after it (however many came in), and once the
 * passes settle a poll timer asks for the next one while there is still something to wait
 * for. The fleet's limit gates (fleet/kv-limit-gate.ts, fleet/kv-run-gate.ts) each drive
 * their compare-and-set passes with one: every arrival and every release asks for a pass,
 * and a burst of them costs one or two passes instead of one each.
 */
import type { Clock, TimerHandle } from "./clock.js";

export interface CoalescingPumpOptions {
  clock: Clock;
  /** One pass. A pass that throws is reported to `onError`; the pump goes on. */
  pass: () => Promise<void>;
  /** After the passes settle: in how many ms the next pass is due by time alone, or undefined when nothing waits. */
  nextPollInMs: () => number | undefined;
  onError: (err: unknown) => void;
}

export interface CoalescingPump {
  /** Ask for a pass: now when none runs, else one more after the running one. */
  request(): void;
  /** Whether a pass runs or is asked for. */
  readonly busy: boolean;
  /** Stop: no pass starts after this (a running one finishes) and the poll timer is cleared. */
  close(): void;
}

/**
 * @example
 * const pump = createCoalescingPump({ clock, pass: admitWaiters, nextPollInMs: () => (waiting.size > 0 ? 250 : undefined), onError: (err) => log.warn({ err }, "...") });
 * pump.request();
 */
export function createCoalescingPump(o: CoalescingPumpOptions): CoalescingPump {
  let running = false;
  let again = false;
  let closed = false;
  let poll: TimerHandle = undefined;
  let pollAt = Infinity;

  function schedulePoll(): void {
    if (closed) return;
    const inMs = o.nextPollInMs();
    if (inMs === undefined) return;
    const delay = Math.max(1, inMs);
    const at = o.clock.now() + delay;
    // A poll due sooner than the one set replaces it; a later one waits for it.
    if (poll !== undefined) {
      if (at >= pollAt) return;
      o.clock.clearTimeout(poll);
    }
    pollAt = at;
    poll = o.clock.setTimeout(() => {
      poll = undefined;
      pollAt = Infinity;
      request();
    }, delay);
  }

  async function loop(): Promise<void> {
    do {
      again = false;
      try {
        await o.pass();
      } catch (err) {
        o.onError(err);
      }
    } while (again && !closed);
    running = false;
    schedulePoll();
  }

  function request(): void {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    void loop();
  }

  return {
    request,
    get busy() {
      return running;
    },
    close() {
      closed = true;
      if (poll !== undefined) o.clock.clearTimeout(poll);
      poll = undefined;
      pollAt = Infinity;
    },
  };
}
