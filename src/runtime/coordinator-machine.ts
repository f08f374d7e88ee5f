/**
 * The run machine: an xstate v5 machine built from a plan. One xstate state per plan
 * state, plus the terminal states `$succeeded`, `$failed` and `$cancelled` (`$` cannot
 * occur in a plan state name, so they never clash).
 *
 * Entering a plan state counts a visit and invokes the `runState` promise actor,
 * which runs the state's tasks and resolves with `{ output, next }` — `next` is chosen
 * inside the actor by `decideNext` (so each user guard runs exactly once, and one that
 * throws fails the run with a clear error instead of breaking the machine). `onDone`
 * then picks the xstate transition: to `$failed` when `next` was already entered
 * `maxVisits` times, to `next` (re-entering it on loops, `reenter: true`), or to
 * `$succeeded` when the state was final. A rejected actor goes to `$failed`; a
 * `CANCEL` event goes to `$cancelled` from anywhere.
 *
 * Side effects (events) are hooks called in order: `runState` with `enter: true`
 * records the state's entry before it dispatches anything (xstate starts the initial
 * state's invoked actor before that state's entry actions run, so entry actions
 * cannot do it), `exited` on the way out, and the terminal hook on entering a
 * terminal state.
 *
 * Resuming (a run rebuilt from its history): the machine starts in the transient
 * state `$start`, which jumps to `resume.state` instead of the plan's initial state,
 * with the visit counters restored. With `resume.entered`, the state visit is already
 * under way (its state.entered is in the history): entry does not count a visit and
 * `runState` gets the recorded visit with `enter: false`. `visits`
 * number the visits (they never go down); `entries` count them against `maxVisits`
 * (a partial re-run from an earlier state winds them back to that point).
 */
import { assign, fromPromise, setup } from "xstate";
import { MaxVisitsExceededError } from "../errors/base.js";
import type { Plan } from "../plan/schema.js";

export interface StepInput {
  state: string;
  visit: number;
  input: unknown;
  /** A new visit: record its state.entered first. False when resuming a visit under way. */
  enter: boolean;
}

export interface StepOutput {
  output: unknown;
  /** The next state, or null when the run ends here. */
  next: string | null;
}

export interface RunMachineHooks {
  runState(step: StepInput, signal: AbortSignal): Promise<StepOutput>;
  exited(state: string, visit: number, output: unknown, next: string | null): void;
  succeeded(output: unknown): void;
  failed(error: unknown): void;
  cancelled(reason: string): void;
}

export interface RunMachineContext {
  /** Input of the state being entered / run. */
  input: unknown;
  /** Number of the latest visit per state. */
  visits: Readonly<Record<string, number>>;
  /** Visits per state that count against maxVisits. */
  entries: Readonly<Record<string, number>>;
  /** The state whose visit is already under way (resume): its entry does nothing. */
  resumeIn?: string | undefined;
  /** Whether the state being run was just entered (false for a resumed visit). */
  enter: boolean;
  /** Where `$start` goes; default the plan's initial state. */
  startAt?: string | undefined;
  output?: unknown;
  error?: unknown;
  reason?: string;
}

export type RunMachineEvent = { type: "CANCEL"; reason: string };

/** Where a rebuilt run picks up. */
export interface ResumePoint {
  /** The state to go to. */
  state: string;
  /** True when its visit is under way (state.entered recorded); false to enter it now. */
  entered: boolean;
  visits: Readonly<Record<string, number>>;
  entries: Readonly<Record<string, number>>;
}

export interface RunMachineInput {
  /** Input of the first state: the run's input, or the input of `resume.state`. */
  input: unknown;
  resume?: ResumePoint | undefined;
}

const START = "$start";

export const TERMINAL = { succeeded: "$succeeded", failed: "$failed", cancelled: "$cancelled" } as const;

/**
 * Build the machine of a plan; start it with `createActor(machine, { input: { input } })`,
 * or `{ input: { input: stateInput, resume } }` to pick a run up where its history ends.
 * @example
 * const actor = createActor(createRunMachine(plan, hooks), { input: { input: workflowInput } });
 * actor.start();
 */
export function createRunMachine(plan: Plan, hooks: RunMachineHooks) {
  const maxVisits = new Map(plan.states.map((s) => [s.name, s.maxVisits]));
  const machine = setup({
    types: {
      context: {} as RunMachineContext,
      events: {} as RunMachineEvent,
      input: {} as RunMachineInput,
    },
    actors: {
      runState: fromPromise<StepOutput, StepInput>(({ input, signal }) => hooks.runState(input, signal)),
    },
  });

  const exceeded = (entries: Readonly<Record<string, number>>, next: string | null): boolean =>
    next !== null && (entries[next] ?? 0) >= (maxVisits.get(next) ?? Number.POSITIVE_INFINITY);

  const states: Record<string, object> = {};
  for (const s of plan.states) {
    const targets = [...new Set([...s.transitions.map((t) => t.target), ...Object.values(s.route?.pathways ?? {})])];
    const exit = ({ context, event }: { context: RunMachineContext; event: { output: StepOutput } }): void =>
      hooks.exited(s.name, context.visits[s.name] ?? 0, event.output.output, event.output.next);
    states[s.name] = {
      entry: [
        assign(({ context }: { context: RunMachineContext }) =>
          context.resumeIn === s.name
            ? { resumeIn: undefined, enter: false }
            : {
                visits: { ...context.visits, [s.name]: (context.visits[s.name] ?? 0) + 1 },
                entries: { ...context.entries, [s.name]: (context.entries[s.name] ?? 0) + 1 },
                enter: true,
              },
        ),
      ],
      invoke: {
        src: "runState",
        input: ({ context }: { context: RunMachineContext }): StepInput => ({ state: s.name, visit: context.visits[s.name] ?? 0, input: context.input, enter: context.enter }),
        onDone: [
          {
            guard: ({ context, event }: { context: RunMachineContext; event: { output: StepOutput } }) => exceeded(context.entries, event.output.next),
            target: TERMINAL.failed,
            actions: [
              exit,
              assign({
                error: ({ event }: { event: { output: StepOutput } }) => {
                  const next = event.output.next ?? "";
                  return new MaxVisitsExceededError(next, maxVisits.get(next) ?? 0);
                },
              }),
            ],
          },
          ...targets.map((target) => ({
            guard: ({ event }: { event: { output: StepOutput } }) => event.output.next === target,
            target,
            reenter: true,
            actions: [exit, assign({ input: ({ event }: { event: { output: StepOutput } }) => event.output.output })],
          })),
          {
            guard: ({ event }: { event: { output: StepOutput } }) => event.output.next === null,
            target: TERMINAL.succeeded,
            actions: [exit, assign({ output: ({ event }: { event: { output: StepOutput } }) => event.output.output })],
          },
          {
            target: TERMINAL.failed,
            actions: assign({ error: ({ event }: { event: { output: StepOutput } }) => new Error(`phaseflow bug: state "${s.name}" chose "${String(event.output.next)}", which it has no transition to`) }),
          },
        ],
        onError: { target: TERMINAL.failed, actions: assign({ error: ({ event }: { event: { error: unknown } }) => event.error }) },
      },
    };
  }

  // The states are built from the plan at run time, which xstate's config types cannot
  // follow; the shapes above are the documented v5 config, checked by the run tests.
  return machine.createMachine({
    id: "run",
    context: ({ input }) => ({
      input: input.input,
      visits: input.resume?.visits ?? {},
      entries: input.resume?.entries ?? {},
      resumeIn: input.resume?.entered === true ? input.resume.state : undefined,
      startAt: input.resume?.state,
      enter: true,
    }),
    initial: START,
    on: { CANCEL: { target: `.${TERMINAL.cancelled}`, actions: assign({ reason: ({ event }) => event.reason }) } },
    states: {
      [START]: {
        always: [
          ...plan.states.map((s) => ({ guard: ({ context }: { context: RunMachineContext }) => context.startAt === s.name, target: s.name })),
          { target: plan.initialState },
        ],
      },
      ...(states as Record<string, never>),
      [TERMINAL.succeeded]: { type: "final", entry: ({ context }) => hooks.succeeded(context.output) },
      [TERMINAL.failed]: { type: "final", entry: ({ context }) => hooks.failed(context.error) },
      [TERMINAL.cancelled]: { type: "final", entry: ({ context }) => hooks.cancelled(context.reason ?? "cancelled") },
    },
  });
}
