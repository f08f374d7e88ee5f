/**
 * The run machine: the workflow's states and transitions as an xstate v5 machine,
 * built from the plan and driven only through xstate's pure `transition()` — no
 * actor, no timers, no side effects. `evolve` steps it on every state-level event
 * of a run's history (state.entered, run.succeeded/failed/cancelled, run.retried),
 * so whoever folds a history gets the same machine snapshot; `decide` asks it which
 * moves are legal and how often a state was entered.
 *
 * States: `$pending` (before the first state), one per plan state, and the terminal
 * `$succeeded`, `$failed`, `$cancelled` (`$` cannot occur in a plan state name).
 * `enter` moves along a declared transition or route (or from `$pending` into the
 * initial state) and counts a visit; `reopen` (a partial re-run) goes from `$failed`
 * back into any state that was entered before.
 */
import { assign, initialTransition, setup, transition, type SnapshotFrom } from "xstate";
import type { Plan } from "../../plan/schema.js";

export interface RunMachineContext {
  /** Visits per state so far (they never go down). */
  visits: Readonly<Record<string, number>>;
}

export type RunMachineEvent =
  | { type: "enter"; state: string }
  | { type: "finish"; status: "succeeded" | "failed" | "cancelled" }
  | { type: "reopen"; state: string };

export const PENDING = "$pending";
export const TERMINAL = { succeeded: "$succeeded", failed: "$failed", cancelled: "$cancelled" } as const;

const machines = new WeakMap<Plan, ReturnType<typeof build>>();

function build(plan: Plan) {
  const m = setup({
    types: { context: {} as RunMachineContext, events: {} as RunMachineEvent },
    actions: {
      count: assign({
        visits: ({ context, event }) => (event.type === "enter" ? { ...context.visits, [event.state]: (context.visits[event.state] ?? 0) + 1 } : context.visits),
      }),
    },
  });
  const finish = {
    finish: [
      { guard: ({ event }: { event: RunMachineEvent }) => event.type === "finish" && event.status === "succeeded", target: TERMINAL.succeeded },
      { guard: ({ event }: { event: RunMachineEvent }) => event.type === "finish" && event.status === "cancelled", target: TERMINAL.cancelled },
      { target: TERMINAL.failed },
    ],
  };
  const enterOneOf = (targets: readonly string[]) =>
    targets.map((t) => ({ guard: ({ event }: { event: RunMachineEvent }) => event.type === "enter" && event.state === t, target: t, reenter: true, actions: "count" as const }));
  const states: Record<string, object> = {};
  for (const s of plan.states) {
    const targets = [...new Set([...s.transitions.map((t) => t.target), ...Object.values(s.route?.pathways ?? {})])];
    states[s.name] = { on: { enter: enterOneOf(targets), ...finish } };
  }
  const everyState = plan.states.map((s) => s.name);
  // The states are built from the plan at run time, which xstate's config types cannot
  // follow; the shapes are the documented v5 config, checked by the run tests.
  return m.createMachine({
    id: "run",
    context: { visits: {} },
    initial: PENDING,
    states: {
      [PENDING]: { on: { enter: enterOneOf([plan.initialState]), ...finish } },
      ...(states as Record<string, never>),
      [TERMINAL.succeeded]: {},
      [TERMINAL.cancelled]: {},
      [TERMINAL.failed]: {
        on: { reopen: everyState.map((t) => ({ guard: ({ event }: { event: RunMachineEvent }) => event.type === "reopen" && event.state === t, target: t })) },
      },
    },
  });
}

export type RunMachine = ReturnType<typeof build>;
export type RunMachineSnapshot = SnapshotFrom<RunMachine>;

/** The machine of a plan (built once per plan object). */
export function runMachineOf(plan: Plan): RunMachine {
  let m = machines.get(plan);
  if (!m) {
    m = build(plan);
    machines.set(plan, m);
  }
  return m;
}

/** The machine's snapshot before anything happened. */
export function initialRunSnapshot(machine: RunMachine): RunMachineSnapshot {
  return initialTransition(machine)[0];
}

/** Step the machine; the snapshot is unchanged when the event is not legal where it stands. */
export function stepRunMachine(machine: RunMachine, snapshot: RunMachineSnapshot, event: RunMachineEvent): RunMachineSnapshot {
  return transition(machine, snapshot, event)[0];
}

/** Whether `event` moves the machine from `snapshot` (a legal transition). */
export function canStep(snapshot: RunMachineSnapshot, event: RunMachineEvent): boolean {
  return snapshot.can(event);
}
