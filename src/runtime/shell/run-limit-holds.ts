/**
 * One run's side of the task limits (limit-gate.ts): which of its attempts wait for their
 * limits (not sent yet, holding no worker slot) and which hold them (sent, no report yet),
 * and when each gives them back: its report, its verdict without a report (timed out,
 * cancelled, the run ended), or the shell stopping. The shell asks `live` whether an
 * attempt is still to be run here: the shell drives the run and the attempt has no verdict.
 */
import type { TaskMessage } from "../../transport/messages.js";
import type { LimitRef } from "../core/limit-state.js";
import type { RunRecord } from "../core/run-record-schema.js";
import type { RunState } from "../core/run-state.js";
import type { LimitGate } from "./limit-gate.js";
import type { StopKind } from "./run-telemetry.js";

export class RunLimitHolds {
  private readonly gated = new Set<string>();
  private readonly holding = new Set<string>();

  constructor(
    private readonly gate: LimitGate,
    private readonly live: (dispatchId: string) => boolean,
  ) {}

  /**
   * Attempts in flight when this holder took the run: their task limits stay held (renewed
   * from here) until their reports. `never(dispatchId)` is called for one its old holder
   * never sent (it stopped while the attempt waited for its limits).
   */
  adopt(state: RunState, never: (dispatchId: string) => void): void {
    for (const a of state.attempts.values()) {
      if (a.limits === undefined || state.verdicts.has(a.dispatchId)) continue;
      this.holding.add(a.dispatchId);
      const holder = a.dispatchId;
      this.gate.adopt({ holder, limits: a.limits, priority: state.record.options?.priority ?? 3, since: a.dispatchedAt }, () => {
        this.holding.delete(holder);
        never(holder);
      });
    }
  }

  /** Ask for the attempt's limits; `send` is called once it holds them, if it is still live then. */
  request(message: TaskMessage, limits: LimitRef[], at: number, send: () => void): void {
    const holder = message.dispatchId;
    this.gated.add(holder);
    this.gate.request({ holder, limits, priority: message.priority ?? 3, since: at }, () => {
      this.gated.delete(holder);
      if (!this.live(holder)) {
        this.gate.release(holder);
        return;
      }
      this.holding.add(holder);
      send();
    });
  }

  /** True while the attempt waits for its limits (not sent yet). */
  waiting(dispatchId: string): boolean {
    return this.gated.has(dispatchId);
  }

  /** Show on `record` what each task whose attempt waits for its limits waits for (`waiting for limit x: 8/8 in use`). */
  annotate(record: RunRecord): RunRecord {
    if (this.gated.size === 0) return record;
    for (const t of record.tasks) {
      const waits = t.dispatchId !== undefined && this.gated.has(t.dispatchId) ? this.gate.waitingFor(t.dispatchId) : undefined;
      if (waits !== undefined) t.waitingFor = `waiting for ${waits}`;
    }
    return record;
  }

  /** The attempt's report came in: it ended on its worker, its limits are free for the next one. */
  reported(dispatchId: string): void {
    if (this.holding.delete(dispatchId)) this.gate.release(dispatchId);
  }

  /** Give back the limits of attempts that are over (or will never be sent). */
  settle(): void {
    if (this.gated.size === 0 && this.holding.size === 0) return;
    for (const set of [this.gated, this.holding]) {
      for (const holder of set) {
        if (this.live(holder)) continue;
        set.delete(holder);
        this.gate.release(holder);
      }
    }
  }

  /**
   * The shell stopped without finishing. Waiting attempts were never sent: their places go.
   * Attempts sent are still in flight when another coordinator took the run over (it keeps
   * their holdings alive), so they are only forgotten; otherwise they are given back.
   */
  drop(kind: StopKind): void {
    for (const holder of this.gated) this.gate.release(holder);
    this.gated.clear();
    for (const holder of this.holding) {
      if (kind === "released") this.gate.forget(holder);
      else this.gate.release(holder);
    }
    this.holding.clear();
  }
}
