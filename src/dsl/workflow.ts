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
import type { BackoffOptions, ChildMapOptions, ChildOptions, ChildTarget, MapOptions, SignalOptions, SleepOptions, StateOptions, TaskOptions, WorkflowOptions } from "./options.js";

// The option types live in options.ts (types only); they are exported here too, where authors find them.
export type { ExecutorKey, BackoffOptions, JsonValue, TaskOptions, SignalOptions, SleepOptions, ChildTarget, InputOf, ChildOptions, ChildMapOptions, MapOptions, StateOptions, WorkflowOptions, OnRunLimit, RunConcurrencyOptions } from "./options.js";

const WORKFLOW_BRAND = Symbol.for("phaseflow.workflow");


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


/** The `params` type of a task handle. */
export type TaskParams<T> = T extends Task<string, unknown, infer P> ? P : never;

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
