/**
 * What one run gives the parts that drive it (state runner, run machine): its
 * identity, plan and definitions, resolved options, the injected clock/random/logger,
 * and ordered output — events, task dispatches and control messages go out in the
 * order they were decided.
 */
import type { Logger } from "../registry/types.js";
import type { Plan } from "../plan/schema.js";
import type { ControlMessage, RunEvent, TaskMessage } from "../transport/messages.js";
import type { Clock, RandomSource } from "./clock.js";
import type { Definitions } from "./coordinator-transitions.js";
import type { ResolvedRunOptions } from "./run-options.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An event as a decision maker writes it; the run stamps `runId` and `at`. */
export type EventBody = DistributiveOmit<RunEvent, "runId" | "at">;

export interface RunScope {
  readonly runId: string;
  readonly plan: Plan;
  readonly defs: Definitions;
  readonly options: Pick<ResolvedRunOptions, "schedule" | "onFailure">;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly log: Logger;
  /** Which go of the run this is: 0, +1 per run.retried (tags task messages and run cancels). */
  readonly round: number;
  /** Record a decision (published after everything emitted before it). */
  emit(event: EventBody): void;
  /** Queue a task attempt (sent after the events emitted before it). */
  dispatch(message: TaskMessage): void;
  /** Broadcast a control message (after the events emitted before it). */
  control(message: ControlMessage): void;
}
