/**
 * The authoring API: workflows hold states, states hold tasks, tasks are wired with
 * `then` / `dependsOn`, states are linked by guarded transitions or routes.
 *
 * Builders only record what the user declared — duplicates, cycles, cross-state
 * edges and the like are kept as written so the compiler can report every one of
 * them at once with a precise path. Where TypeScript can catch misuse it does: tasks
 * are branded with their state's name, so wiring across states with literal names
 * fails to type-check, and `when` is typed by the state's `output` schema.
 */
import type { ZodType } from "zod";
import type { ConcurrencyLimit, RateLimit } from "./limits.js";
import type { ScheduleOptions, SourceOptions } from "./triggers.js";

const WORKFLOW_BRAND = Symbol.for("phaseflow.workflow");

/** `namespace/name`, e.g. `"etl/extract"`. */
export type ExecutorKey = `${string}/${string}`;

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialMs: number;
  /** Upper bound of any delay, in ms. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
}

/** A JSON value: what `params` and map items may hold. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export interface TaskOptions<I = unknown, O = unknown, P = unknown> {
  /** The registry key of the executor that runs this task. */
  executor: ExecutorKey;
  /** Static JSON given to the executor as `ctx.params` (shown by the dry run, part of the plan hash); the compiler rejects what is not JSON. Default: none. */
  params?: P;
  /** Schema of the task's input (the state input for a root task, else the merge of its parents' outputs). */
  input?: ZodType<I>;
  /** Schema of the task's output; a violation fails the task without retry. */
  output?: ZodType<O>;
  /** Further attempts after the first fails. Default 0. */
  retries?: number;
  /** Delay between attempts. Default `{ initialMs: 1000, maxMs: 30000, factor: 2 }`, with jitter. */
  backoff?: BackoffOptions;
  /**
   * Limit per attempt, in ms, of its execution: from the moment a worker starts it (time
   * waiting for a worker or a limit never counts). Default: none.
   */
  timeoutMs?: number;
  /** Longest wait of an attempt from dispatch to its start on a worker, in ms; past it the attempt fails with QUEUE_TIMEOUT (retried per `retries`). Default: none. */
  queueTimeoutMs?: number;
  /** At most `limit` attempts in flight per key value, across every run (README "Traffic control"). Default: no limit. */
  concurrency?: ConcurrencyLimit<I>;
  /** At most `limit` attempt starts per `periodMs` per key value, across every run. Default: no limit. */
  rateLimit?: RateLimit<I>;
  description?: string;
}

/** A signal node (`state.signal`): waits, holding no worker slot, for a signal sent to the run. */
export interface SignalOptions<O = unknown> {
  /** Schema of the payload: a sender whose payload fails it is refused, and nothing changes. Default: any JSON value. */
  schema?: ZodType<O>;
  /** Fail the node with SIGNAL_TIMEOUT when no signal came within this many ms of reaching it (retried per `retries`). Default: no limit. */
  timeoutMs?: number;
  /** On timeout, succeed with `output` instead of failing (e.g. `{ pathway: "expired" }` for a route; it need not match `schema`). Default: fail. */
  onTimeout?: { output: unknown };
  /** The signal's name, when it differs from the node's. Default: the node's name. */
  signal?: string;
  /** Waits again after a timeout this many times. Default 0. */
  retries?: number;
  /** Delay before waiting again after a timeout. Default as for tasks. */
  backoff?: BackoffOptions;
  description?: string;
}

/** A sleep node (`state.sleep`): succeeds, holding no worker slot, once its time has come. Give `ms` or `until`. */
export interface SleepOptions<I = unknown> {
  /** Sleep this long from when the node is reached. */
  ms?: number;
  /** Sleep until this time, computed from the node's input when it is reached. */
  until?: (input: I) => Date | number;
  description?: string;
}

/** A workflow as a child node names it: its handle (any input type), or its name. */
export type ChildTarget = { readonly name: string; readonly version: string; readonly states: readonly unknown[] } | string;

/** A child node (`state.child`): starts a run of another workflow (or this one) and succeeds with its output. */
export interface ChildOptions<W extends ChildTarget, NI = unknown> {
  /** The workflow to run: its handle (checked by the compiler) or its name (looked up where the run is driven). */
  workflow: W;
  /** Pin a version. Default: the handle's version, or by name the latest served. */
  version?: string;
  /** The child's input from the node's input. Default: the node's input as it is. */
  input?: (input: NI) => W extends Workflow<infer I> ? I : unknown;
  /** Start a new child run this many times after one failed. Default 0. */
  retries?: number;
  /** Delay before the next child run. Default as for tasks. */
  backoff?: BackoffOptions;
  description?: string;
}

/** A map over a workflow (`state.map` with `workflow`): one child run per item. */
export interface ChildMapOptions<W extends ChildTarget, MI = unknown> {
  workflow: W;
  version?: string;
  /** The list to fan out over; each item is one child run's input. */
  items: (input: MI) => readonly (W extends Workflow<infer I> ? I : unknown)[];
  /** Child runs in flight at once. Default 100. */
  maxConcurrency?: number;
  /** As for task maps. Default 0. */
  toleratedFailures?: number;
  retries?: number;
  backoff?: BackoffOptions;
  description?: string;
}

/** What a wait node waits for, as declared. */
export type WaitDef =
  | { readonly kind: "signal"; readonly signal: string; readonly schema?: ZodType | undefined; readonly timeoutMs?: number | undefined; readonly onTimeout?: { output: unknown } | undefined }
  | { readonly kind: "sleep"; readonly ms?: number | undefined; readonly until?: ((input: never) => Date | number) | undefined }
  | { readonly kind: "child"; readonly workflow: ChildTarget; readonly version?: string | undefined; readonly input?: ((input: never) => unknown) | undefined };

/** The executor key a wait node shows in a plan: it is never dispatched to a worker. */
export const SIGNAL_EXECUTOR = "phaseflow/signal";
export const SLEEP_EXECUTOR = "phaseflow/sleep";
export const CHILD_EXECUTOR = "phaseflow/child";
/** How a map node fans out, as declared (checked by the compiler). */
export interface MapDef {
  readonly items: (input: unknown) => unknown;
  readonly maxConcurrency: number | undefined;
  readonly toleratedFailures: number | undefined;
}

export interface MapOptions<I = unknown, O = unknown, MI = unknown, P = unknown> extends Omit<TaskOptions<I, O, P>, "input"> {
  /**
   * The list to fan out over, from the map node's input; evaluated once by the
   * coordinator when the node starts, and recorded in the run's history.
   */
  items: (input: MI) => readonly I[];
  /** Schema of each instance's input (one item). */
  input?: ZodType<I>;
  /** Instances in flight at once, across the fleet. Default 100. */
  maxConcurrency?: number;
  /** Failed instances the map may have and still succeed: a count (0, 1, 2, ...) or a fraction below 1 (`0.05`: 5% of the items, rounded down). Default 0. */
  toleratedFailures?: number;
}

/** The `params` type of a task handle. */
export type TaskParams<T> = T extends Task<string, unknown, infer P> ? P : never;

export interface StateOptions<TOut = Record<string, unknown>> {
  /** Start here. Default: the first state declared. */
  initial?: boolean;
  /** A final state ends the run once its tasks finish. A state with no outgoing transition is final anyway. */
  final?: boolean;
  /** How often the state may be entered in one run before the run fails. Default 100. */
  maxVisits?: number;
  /** Schema of the state's output (the merge of its sink tasks' outputs); types `when` guards. */
  output?: ZodType<TOut>;
  description?: string;
}

/** Anything that names a state of a workflow (every `State` is one). */
export interface StateRef {
  readonly name: string;
  readonly workflow: WorkflowRef;
}

export interface WorkflowRef {
  readonly name: string;
}

export interface TransitionDef {
  readonly target: StateRef;
  readonly when?: ((output: never) => boolean) | undefined;
  readonly description?: string | undefined;
}

export interface RouteDef {
  /** Task handle or task name of the router; it must return `{ pathway: string }`. */
  readonly router: Task<string> | string;
  readonly pathways: Readonly<Record<string, StateRef>>;
}

/** How a node of a state was declared. */
export type NodeKind = "task" | "map" | "signal" | "sleep";

/** The option keys of what the caller passed (none for a non-object: the compiler reports that elsewhere). */
function optionKeys(options: unknown): string[] {
  return typeof options === "object" && options !== null ? Object.keys(options) : [];
}

export class Task<S extends string, O = unknown, P = unknown> {
  /** Tasks this one waits for, as declared (possibly of other states: a compile error). */
  readonly parents: Task<string>[] = [];
  /** Set on a map node (`state.map`): how it fans out at run time. */
  readonly map: MapDef | undefined;
  /** Only for typing `params`. */
  declare readonly __params?: P;
  /**
   * What was declared (`task`, `map`, `signal` or `sleep`) and the option keys the caller
   * passed, so the compiler can report keys it does not know (`retry: 3` for `retries`).
   */
  declared: { readonly kind: NodeKind; readonly keys: readonly string[] } = { kind: "task", keys: [] };

  constructor(
    readonly state: State<S, unknown>,
    readonly name: string,
    readonly options: TaskOptions<unknown, O>,
    map?: MapDef,
    /** Set for signal and sleep nodes: they wait in the coordinator instead of running on a worker. */
    readonly wait?: WaitDef,
  ) {
    this.map = map;
  }

  /**
   * `a.then(b)`: b runs after a. Takes one task or an array; returns its argument,
   * so chains read left to right: `a.then(b).then(c)`.
   */
  then<T extends Task<S> | readonly Task<S>[]>(next: T): T {
    const children = (Array.isArray(next) ? next : [next]) as readonly Task<string>[];
    for (const child of children) child.parents.push(this);
    return next;
  }

  /** `b.dependsOn(a, c)`: b runs after a and c. Returns this task. */
  dependsOn(...parents: Task<S>[]): this {
    for (const p of parents) this.parents.push(p);
    return this;
  }

  /** `state/task`. */
  get id(): string {
    return `${this.state.name}/${this.name}`;
  }
}

export class State<S extends string, TOut = Record<string, unknown>> implements StateRef {
  readonly tasks: Task<S>[] = [];
  readonly transitions: TransitionDef[] = [];
  readonly routes: RouteDef[] = [];

  constructor(
    readonly workflow: Workflow<unknown>,
    readonly name: S,
    readonly options: StateOptions<TOut>,
  ) {}

  /**
   * Declare a task of this state.
   * @example const extract = ingest.task("extract", { executor: "etl/extract", retries: 2 });
   */
  task<O = unknown, I = unknown, P = unknown>(name: string, options: TaskOptions<I, O, P>): Task<S, O, P> {
    const t = new Task<S, O, P>(this, name, options);
    t.declared = { kind: "task", keys: optionKeys(options) };
    this.tasks.push(t);
    return t;
  }

  /**
   * Declare a map node: one node of this state's DAG that fans out at run time into one
   * instance per element of `items(input)` (`input`: the state input for a root, else
   * the merge of its parents' outputs). Instance `k` runs `executor` with `items[k]` as
   * its input and `ctx.item = { index: k, count }`; its id is `state/name[k]`. To its
   * children the map's output is the array of instance outputs in item order.
   * @example
   * const run = grid.map("run", { executor: "study/run", items: (inp: { cells: Cell[] }) => inp.cells, maxConcurrency: 64 });
   */
  map<W extends ChildTarget, MI = unknown>(name: string, options: ChildMapOptions<W, MI>): Task<S, unknown[]>;
  map<O = unknown, I = unknown, MI = unknown, P = unknown>(name: string, options: MapOptions<I, O, MI, P>): Task<S, O[], P>;
  map(name: string, options: MapOptions | ChildMapOptions<ChildTarget>): Task<S, unknown> {
    const map = { items: options.items as (input: unknown) => unknown, maxConcurrency: options.maxConcurrency, toleratedFailures: options.toleratedFailures };
    if ("workflow" in options) {
      // A map over a workflow: each instance is a child node whose input is its item.
      const t = new Task<S>(this, name, childTaskOptions(options), map, { kind: "child", workflow: options.workflow, version: options.version });
      this.tasks.push(t);
      return t;
    }
    const { items: _items, maxConcurrency: _max, toleratedFailures: _tol, ...task } = options;
    const t = new Task<S>(this, name, task, map);
    t.declared = { kind: "map", keys: optionKeys(options) };
    this.tasks.push(t);
    return t;
  }

  /**
   * Declare a child node: it starts a run of `workflow` (a real run, with its own history
   * and status) and succeeds with that run's output, or fails with its error. It holds no
   * worker slot while the child runs. The child's input is `input(nodeInput)`, or the
   * node's input.
   * @example const sub = s.child("enrich", { workflow: enrich, input: (i: { id: string }) => ({ id: i.id }) });
   */
  child<W extends ChildTarget, NI = unknown>(name: string, options: ChildOptions<W, NI>): Task<S, unknown> {
    const t = new Task<S>(this, name, childTaskOptions(options), undefined, { kind: "child", workflow: options.workflow, version: options.version, input: options.input as ((input: never) => unknown) | undefined });
    this.tasks.push(t);
    return t;
  }

  /**
   * Declare a signal node: it waits (holding no worker slot) for the signal `name` sent to
   * the run (`engine.signal`, `client.signal`, `phaseflow signal`) and succeeds with its
   * payload. A signal sent before the node is reached is kept and consumed when it is.
   * @example const verdict = review.signal("verdict", { schema: z.object({ ok: z.boolean() }), timeoutMs: 86_400_000 });
   */
  signal<O = unknown>(name: string, options: SignalOptions<O> = {}): Task<S, O> {
    const taskOptions: TaskOptions<unknown, O> = { executor: SIGNAL_EXECUTOR };
    if (options.schema !== undefined) taskOptions.output = options.schema;
    if (options.retries !== undefined) taskOptions.retries = options.retries;
    if (options.backoff !== undefined) taskOptions.backoff = options.backoff;
    if (options.description !== undefined) taskOptions.description = options.description;
    const t = new Task<S, O>(this, name, taskOptions, undefined, { kind: "signal", signal: options.signal ?? name, schema: options.schema, timeoutMs: options.timeoutMs, onTimeout: options.onTimeout });
    t.declared = { kind: "signal", keys: optionKeys(options) };
    this.tasks.push(t);
    return t;
  }

  /**
   * Declare a sleep node: it succeeds with `{ sleptUntil }` once its time has come, holding
   * no worker slot. Its due time is in the run's history, so it survives coordinator restarts.
   * @example const cooldown = review.sleep("cooldown", { ms: 60_000 }); // or { until: (input) => new Date(input.at) }
   */
  sleep<I = unknown>(name: string, options: SleepOptions<I>): Task<S, { sleptUntil: number }> {
    const taskOptions: TaskOptions<unknown, { sleptUntil: number }> = { executor: SLEEP_EXECUTOR };
    if (options.description !== undefined) taskOptions.description = options.description;
    const t = new Task<S, { sleptUntil: number }>(this, name, taskOptions, undefined, { kind: "sleep", ms: options.ms, until: options.until as ((input: never) => Date | number) | undefined });
    t.declared = { kind: "sleep", keys: optionKeys(options) };
    this.tasks.push(t);
    return t;
  }

  /**
   * Go to `target` when this state's tasks are done and `when` (if given) returns true
   * for the state's output. Transitions are tried in declaration order; the first
   * that matches wins; one without `when` is the fallback.
   */
  transition(target: StateRef, options: { when?: (output: TOut) => boolean; description?: string } = {}): this {
    this.transitions.push({ target, when: options.when, description: options.description });
    return this;
  }

  /**
   * Route by the router task's output: it returns `{ pathway: "approve" }` and the run
   * goes to `pathways.approve`.
   * @example annotate.route("decide", { approve: publish, reject: annotate })
   */
  route(router: Task<S> | string, pathways: Record<string, StateRef>): this {
    this.routes.push({ router, pathways });
    return this;
  }
}

function childTaskOptions(options: { retries?: number | undefined; backoff?: BackoffOptions | undefined; description?: string | undefined }): TaskOptions {
  const taskOptions: TaskOptions = { executor: CHILD_EXECUTOR };
  if (options.retries !== undefined) taskOptions.retries = options.retries;
  if (options.backoff !== undefined) taskOptions.backoff = options.backoff;
  if (options.description !== undefined) taskOptions.description = options.description;
  return taskOptions;
}

export interface WorkflowOptions<TInput> {
  version: string;
  /** Schema of the run's input; `engine.run` rejects input that fails it before dispatching anything. */
  input?: ZodType<TInput>;
  description?: string;
  /** Start runs on a clock: `[{ cron: "0 2 * * *" }, { every: "15m", input }]`. Served by the coordinators serving the workflow. Default: none. */
  schedules?: readonly ScheduleOptions<NoInfer<TInput>>[];
  /** Start runs from polled work items: `[{ every: "60s", executor: "ns/list" }]`. Served by the coordinators. Default: none. */
  sources?: readonly SourceOptions[];
  /** The default priority of its runs, 1 (first) to 5 (last): where tasks wait for worker slots, higher priority goes first (README "Traffic control"). Default 3. */
  priority?: number;
  /**
   * Runs in flight per key (README "Traffic control"): at most `limit` runs of this workflow with
   * the same `key(input)` are running at once (`key` omitted: one key for all its runs). Default: no limit.
   * @example concurrency: { limit: 1, key: (input) => input.user, onLimit: "queue" }
   */
  concurrency?: RunConcurrencyOptions<NoInfer<TInput>>;
}

/** What a start does when its key already has `limit` runs in flight. */
export type OnRunLimit = "queue" | "cancel-in-progress" | "drop";

export interface RunConcurrencyOptions<TInput> {
  /** Runs in flight per key; a positive whole number. */
  limit: number;
  /** The key of a run from its input (e.g. the user it works for). Default: one key for every run of the workflow. */
  key?(input: TInput): string;
  /**
   * `"queue"` (default): the run waits, status pending, and starts when one of its key ends, in start order;
   * `"cancel-in-progress"`: the oldest running run of the key is cancelled, then the new one starts;
   * `"drop"`: the start is refused with RunLimitReachedError (code RUN_LIMIT_REACHED).
   */
  onLimit?: OnRunLimit;
}

export class Workflow<TInput = unknown> implements WorkflowRef {
  readonly [WORKFLOW_BRAND] = true as const;
  readonly states: State<string, unknown>[] = [];

  constructor(
    readonly name: string,
    readonly options: WorkflowOptions<TInput>,
  ) {}

  /** Declare a state. The first one declared is initial unless another says `{ initial: true }`. */
  state<S extends string, TOut = Record<string, unknown>>(name: S, options: StateOptions<TOut> = {}): State<S, TOut> {
    const s = new State<S, TOut>(this, name, options);
    this.states.push(s);
    return s;
  }

  get version(): string {
    return this.options.version;
  }
}

/**
 * Start a workflow definition.
 * @example
 * const etl = workflow("etl", { version: "1", input: z.object({ day: z.string() }) });
 */
export function workflow<TInput = unknown>(name: string, options: WorkflowOptions<TInput>): Workflow<TInput> {
  return new Workflow<TInput>(name, options);
}

export function isWorkflow(value: unknown): value is Workflow<unknown> {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[WORKFLOW_BRAND] === true;
}

/** The input type a workflow accepts. */
export type WorkflowInput<W> = W extends Workflow<infer I> ? I : never;
