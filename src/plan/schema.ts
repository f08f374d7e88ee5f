/**
 * The Plan: what the compiler produces and the only thing the coordinator and the
 * workers read. Plain JSON, validated by `planSchema`, identified by `planHash`
 * (a sha-256 of its canonical content, so it is stable across runs and processes
 * and changes when anything that affects execution changes).
 *
 * Guards (`when`) are functions and cannot travel in JSON: the plan records each
 * transition's position and the guard's source text (part of the hash); the
 * coordinator, which loads the workflow module, evaluates the function itself.
 */
import { z } from "zod";

export const PLAN_FORMAT_VERSION = 1;

/** A JSON Schema object (from `z.toJSONSchema`), or null when the task declares none. */
const jsonSchemaSchema = z.record(z.string(), z.unknown()).nullable();

export const backoffSchema = z.object({
  initialMs: z.number().int().nonnegative(),
  maxMs: z.number().int().nonnegative(),
  factor: z.number().positive(),
});

/**
 * A wait node (README "Waiting for people and time"): it holds no worker slot and is never dispatched. A
 * signal node waits for the signal `signal`; a sleep node for `ms` from when it is reached,
 * or until the time its `until` function (source text here, code in the workflow module,
 * like a guard) returns.
 */
export const planWaitSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("signal"),
    signal: z.string(),
    /** null: no limit. */
    timeoutMs: z.number().int().positive().nullable(),
    /** On timeout: succeed with this output instead of failing with SIGNAL_TIMEOUT. */
    onTimeout: z.object({ output: z.unknown() }).nullable(),
  }),
  z.object({ kind: z.literal("sleep"), ms: z.number().int().nonnegative().nullable(), until: z.string().nullable() }),
  /**
   * A child node (README "Workflows that call workflows"): starts a run of `workflow` (`version`: pinned, or null for the
   * latest served) and waits for its end. `input`: source text of its input function, or null
   * (the node's input, or for a map over a workflow the item, is the child's input).
   */
  z.object({ kind: z.literal("child"), workflow: z.string(), version: z.string().nullable(), input: z.string().nullable() }),
]);
export type PlanWait = z.infer<typeof planWaitSchema>;

export const planTaskSchema = z.object({
  name: z.string(),
  /** `state/task`. */
  id: z.string(),
  executor: z.string(),
  retries: z.number().int().nonnegative(),
  backoff: backoffSchema,
  /** Per attempt, from its start on a worker; null = no limit. */
  timeoutMs: z.number().int().positive().nullable(),
  /** Longest wait from dispatch to start; absent = no limit (absent, so plans without it hash as before). */
  queueTimeoutMs: z.number().int().positive().optional(),
  /**
   * Traffic control (README "Traffic control"): the limit's scope (default the executor key),
   * its numbers, and whether a key function splits it per key value (the function stays with
   * the definition). Absent = no limit, so plans without them hash as before.
   */
  concurrency: z.object({ scope: z.string(), limit: z.number().int().positive(), keyed: z.boolean() }).optional(),
  rateLimit: z.object({ scope: z.string(), limit: z.number().int().positive(), periodMs: z.number().int().positive(), keyed: z.boolean() }).optional(),
  /** Names of tasks of the same state this one waits for, in task declaration order. */
  parents: z.array(z.string()),
  /** Names of tasks of the same state that wait for this one, in task declaration order. */
  children: z.array(z.string()),
  /** 0-based index into the state's `phases`. */
  phase: z.number().int().nonnegative(),
  inputSchema: jsonSchemaSchema,
  outputSchema: jsonSchemaSchema,
  description: z.string().nullable(),
  /** Set only for signal and sleep nodes (absent for tasks run by workers, so their plans hash as before). */
  wait: planWaitSchema.optional(),
  /** The task's static `params` (JSON), absent when it has none. */
  params: z.unknown().optional(),
  /** Present on a map node: it fans out at run time into one instance per item. */
  map: z
    .object({
      /** Source text of the `items` function (the coordinator evaluates the function itself). */
      items: z.string(),
      maxConcurrency: z.number().int().positive(),
      /** A count (whole number) or a fraction in (0, 1) of the item count. */
      toleratedFailures: z.number().nonnegative(),
    })
    .optional(),
});

export const planTransitionSchema = z.object({
  target: z.string(),
  /** Position in the state's declared transitions: the coordinator evaluates that `when`. */
  index: z.number().int().nonnegative(),
  /** Source text of the guard, or null for a fallback. */
  guard: z.string().nullable(),
  description: z.string().nullable(),
});

export const planRouteSchema = z.object({
  /** Name of the router task (of this state); its output's `pathway` picks the target. */
  router: z.string(),
  pathways: z.record(z.string(), z.string()),
});

export const planStateSchema = z.object({
  name: z.string(),
  initial: z.boolean(),
  /** No outgoing transition or route: the run ends here. */
  final: z.boolean(),
  maxVisits: z.number().int().positive(),
  tasks: z.array(planTaskSchema),
  /** `[parent, child]` pairs of task names, each once, ordered by parent then child declaration order. */
  edges: z.array(z.tuple([z.string(), z.string()])),
  /** Topological generations: every task of a phase can run in parallel. Tasks keep declaration order within a phase. */
  phases: z.array(z.array(z.string())),
  /** Tasks with no children: the state's output is the merge of their outputs. */
  sinks: z.array(z.string()),
  transitions: z.array(planTransitionSchema),
  route: planRouteSchema.nullable(),
  /** One longest dependency chain through the state's DAG. */
  criticalPath: z.array(z.string()),
  outputSchema: jsonSchemaSchema,
  description: z.string().nullable(),
});

/** A run's priority (README "Traffic control": 1 first .. 5 last) when neither the run nor its workflow gives one. */
export const DEFAULT_PRIORITY = 3;

export const planSchema = z.object({
  formatVersion: z.literal(PLAN_FORMAT_VERSION),
  workflow: z.string(),
  version: z.string(),
  initialState: z.string(),
  inputSchema: jsonSchemaSchema,
  states: z.array(planStateSchema),
  /** The default priority of the workflow's runs (1 first .. 5 last); absent = 3 (absent, so plans without it hash as before). */
  priority: z.number().int().min(1).max(5).optional(),
  planHash: z.string().regex(/^[0-9a-f]{64}$/),
});

export type Plan = z.infer<typeof planSchema>;
export type PlanState = z.infer<typeof planStateSchema>;
export type PlanTask = z.infer<typeof planTaskSchema>;
export type PlanMap = NonNullable<PlanTask["map"]>;
export type PlanTransition = z.infer<typeof planTransitionSchema>;
export type PlanRoute = z.infer<typeof planRouteSchema>;
export type Backoff = z.infer<typeof backoffSchema>;
