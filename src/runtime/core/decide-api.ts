/**
 * What the decider (decide.ts) takes and gives: the triggers it decides on, the effects
 * it asks its shell to run, its settings and its source of randomness. A leaf module, so
 * the decider's rule modules (decision.ts, decide-timers.ts, map-decide.ts, run-waits.ts,
 * children.ts) and the shell all name the same types.
 */
import type { LimitRef } from "./limit-state.js";
import type { SerializedError } from "../../errors/serialize.js";
import type { ControlMessage, DecisionEvent, DecisionRunEvent, ParentRef, TaskMessage } from "../../transport/messages.js";
import type { ResolvedRunOptions } from "../../support/run-options.js";
import type { RetryFrom } from "./run-retry.js";
import type { ChildEffect } from "./children.js";
import type { PayloadRef } from "../../transport/payloads.js";

export type Trigger =
  /** `traceparent`: the run span's trace context (telemetry), recorded in run.started. */
  | { type: "start"; input: unknown; options: Pick<ResolvedRunOptions, "schedule" | "onFailure" | "seed"> & { priority?: number | undefined }; owner: string; epoch: number; traceparent?: string | undefined; parent?: ParentRef | undefined }
  | { type: "resume"; owner: string; epoch: number }
  | { type: "report"; dispatchId: string }
  /** A signal was just folded (stored at `seq`). */
  | { type: "signal"; seq: number }
  /** A child run's end was just folded (stored at `seq`). */
  | { type: "child"; seq: number }
  | { type: "timer"; key: string; lastHeardAt?: number | undefined }
  /** A worker started the attempt at `startedAt` (the coordinator's clock), as a live signal told (attempt-timers.ts). */
  | { type: "started"; dispatchId: string; startedAt: number }
  | { type: "cancel"; reason: string }
  /** A task message could not be sent and never will be (too large, not JSON): the attempt failed with `error`. */
  | { type: "undeliverable"; dispatchId: string; error: SerializedError }
  /**
   * The coordinator cannot drive the run (its start or resume failed for good, e.g. the
   * plan it serves is not the run's): the run fails as it stands, with `error`. Needs no
   * workflow model, so a coordinator that could not load one decides it on a plain fold.
   */
  | { type: "fail"; error: SerializedError }
  /** The attempt's task message is gone from the transport with nothing heard of the attempt (a forged ack): dispatch it again now, as the watchdog would later. */
  | { type: "lost"; dispatchId: string; reason: string }
  | { type: "retry"; from?: RetryFrom | undefined; reason?: string | undefined; owner: string; epoch: number }
  /**
   * Move the run onto the plan with this hash (`state.models` knows it; upgrade.ts): when
   * `upgradeIssues` finds nothing against it, run.upgraded, then whatever the new plan
   * starts from where the run stands. Otherwise nothing (the caller reports the issues).
   */
  | { type: "upgrade"; planHash: string }
  /** Payloads asked for by a `resolve` effect are in the state's payload view now: decide again what waited for them (payload-view.ts). */
  | { type: "resolved" };

export type Effect =
  /** `limits`: the task's concurrency and rate limits at this attempt's key values; the shell sends the message once it holds them (shell/limit-gate.ts). */
  | { type: "dispatch"; message: TaskMessage; limits?: LimitRef[] }
  /** Sent only once every event decided before it is stored (a fenced-out writer sends none). */
  | { type: "control"; message: ControlMessage }
  | { type: "timer"; key: string; at: number }
  | { type: "cancelTimer"; key: string }
  /** Start a child run (idempotent by its id) / cancel one (children.ts). */
  | ChildEffect
  /** Fetch these payloads into the run's payload view, then trigger `resolved`: a user function needs their values (payload-view.ts). */
  | { type: "resolve"; refs: readonly PayloadRef[] };

export interface Decided {
  events: DecisionEvent[];
  /** The same events stamped with the run id and time, as folded (for listeners). */
  stamped: DecisionRunEvent[];
  effects: Effect[];
}

export interface DecideRandom {
  /** In [0, 1): backoff jitter. */
  jitter(): number;
  /** An unguessable attempt token (at least 16 characters). */
  token(): string;
}

export interface DecideSettings {
  /** Re-dispatch an attempt after this long with nothing heard of it (before its start is known, or without `timeoutMs`). */
  watchdogMs: number;
  /** How often a lost attempt is re-dispatched before its task fails. */
  maxLost: number;
  /** The coordinator fails an attempt as timed out this long after `timeoutMs` of execution, when its worker did not report (attempt-timers.ts). */
  timeoutGraceMs: number;
  /** After a takeover, how long to wait to hear of an attempt's start before judging its queue deadline. */
  startNoticeMs: number;
}

export const DEFAULT_DECIDE_SETTINGS: DecideSettings = { watchdogMs: 10 * 60_000, maxLost: 3, timeoutGraceMs: 5_000, startNoticeMs: 10_000 };
