/**
 * What `createEngine` and the engine's methods take: the option types (each field with its
 * default) and the zod schemas they are checked with, once, at the boundary (STYLE 4, 16).
 * The engine itself is engine.ts.
 */
import { z } from "zod";
import type { Workflow } from "../dsl/workflow.js";
import { isRegistry, type Registry } from "../registry/registry.js";
import type { Logger } from "../registry/types.js";
import type { LimitGate } from "../runtime/shell/limit-gate.js";
import type { ChildRuns } from "../runtime/shell/child-runs.js";
import type { Clock, IdGenerator, RandomSource } from "../support/clock.js";
import type { RunOptions } from "../support/run-options.js";
import type { Transport } from "../transport/port.js";

export const DEFAULT_ENGINE_CONCURRENCY = 16;

export interface EngineOptions {
  /** The executors. Required when the engine runs its own worker; then every workflow is also checked against it at compile time. */
  registry?: Registry;
  /** Default: a new memory transport (embedded), closed by `engine.close()`. A transport you pass stays yours to close. */
  transport?: Transport;
  /** Run an in-process worker for `registry`. Default: true without `transport`, false with one. */
  worker?: boolean;
  /** Default: a silent logger. */
  logger?: Logger;
  /** Default: the system clock. Tests pass a fake one (the in-process worker gets the same). */
  clock?: Clock;
  /** Run ids. Default: time-ordered random ids. */
  ids?: IdGenerator;
  /** Backoff jitter source in [0, 1). Default: Math.random. */
  random?: RandomSource;
  /** Most attempts the in-process worker runs at once. Default 16. */
  concurrency?: number;
  /** The coordinator's id in histories and logs (a per-process nonce is appended). Default "coordinator". */
  coordinatorId?: string;
  /** Re-dispatch an attempt without timeoutMs after this long with nothing heard of it. Default 600000 (10 min). */
  watchdogMs?: number;
  /** Keep every event of running runs for `handle.events()`. Default true. */
  keepHistory?: boolean;
  /** Estimated heap bytes of finished runs' records kept for `get` (oldest dropped first). Default 64 MiB; 0 keeps none. */
  keepFinishedBytes?: number;
  /**
   * Embedded only (no `transport`): the largest task message (input and parents' outputs)
   * and report (output) in bytes, as on a fleet (the fleet's `maxPayload`: values over 256 KiB
   * travel there through its payload store; embedded keeps them in memory as they are). A task whose
   * input or output is larger, not JSON, or nested too deep fails with PAYLOAD_TOO_LARGE,
   * PAYLOAD_NOT_JSON or PAYLOAD_TOO_DEEP naming it, as it would on NATS. Default 67108864 (64 MiB);
   * false: no checks (and no JSON.stringify per message).
   */
  maxPayload?: number | false;
  /**
   * Workflows this engine knows by name and version: child nodes may name them
   * (`s.child("x", { workflow: "enrich" })`), `run(wf, input, { version })` starts one of
   * them, and `resume`/`retry` of a run pinned to one of their plans use it (README "Deploying new versions").
   * Those run with this engine, and those their child nodes name by handle, are known anyway. Default: none.
   */
  workflows?: readonly Workflow<never>[];
  /**
   * Where child runs (child nodes) start. Default true: on this engine's coordinator.
   * A `ChildRuns` port starts them elsewhere (a fleet coordinator's: through the fleet's
   * API, leases and run store, src/fleet/child-runs.ts); false: child nodes fail with
   * CHILD_START_FAILED.
   */
  childRuns?: boolean | ChildRuns;
  /**
   * How long a parent run waits on a child before this engine reads the child's history for
   * an end that never reached the parent (its coordinator died in between) and stores it on
   * the parent itself. Default 30000 (30 s).
   */
  childCheckMs?: number;
  /**
   * Where attempts take their tasks' concurrency and rate limits. Default: in memory, shared
   * by every run of this engine. A fleet coordinator passes one kept in the fleet's KV store,
   * shared by every coordinator (README "Traffic control").
   */
  limits?: LimitGate;
  /**
   * Hold workflows' `concurrency` (runs in flight per key) in this engine. Default true. A
   * fleet coordinator passes false: its run driver holds them in the fleet's KV store,
   * across every coordinator (README "Traffic control").
   */
  runLimits?: boolean;
}

/** `engine.run` options: the run's options, and which version of the workflow's name to start. */
export type EngineRunOptions = RunOptions & {
  /** Start this version of the workflow's name (one the engine knows: `workflows`, or run before) instead of the one passed. */
  version?: string;
};

/** `upgrade` options. */
export interface UpgradeOptions {
  /** The version of the run's workflow to move it onto. */
  toVersion: string;
  /** Only check and report; change nothing. Default false. */
  dryRun?: boolean;
}

const fn = (what: string) => z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", { message: `must be ${what}` });
const obj = <T>(what: string, test: (v: Record<string, unknown>) => boolean) =>
  z.custom<T>((v) => typeof v === "object" && v !== null && test(v as Record<string, unknown>), { message: `must be ${what}` });

export const upgradeOptionsSchema = z.object({ toVersion: z.string().min(1, "must be a non-empty version"), dryRun: z.boolean().optional() }).strict();

export const engineOptionsSchema = z
  .object({
    registry: z.custom<Registry>((v) => isRegistry(v), { message: "must be a registry from createRegistry()" }).optional(),
    transport: obj<Transport>("a Transport (createMemoryTransport() or the NATS adapter)", (v) => typeof v.appendDecision === "function").optional(),
    worker: z.boolean().optional(),
    logger: obj<Logger>("a pino-like logger with child()", (v) => typeof v.child === "function").optional(),
    clock: obj<Clock>("a Clock { now, setTimeout, clearTimeout }", (v) => typeof v.now === "function" && typeof v.setTimeout === "function").optional(),
    ids: fn("a function returning a run id").optional(),
    random: fn("a function returning a number in [0, 1)").optional(),
    concurrency: z.number().int().min(1).default(DEFAULT_ENGINE_CONCURRENCY),
    coordinatorId: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/, "must be 1-100 letters, digits, '.', '_' or '-'").optional(),
    watchdogMs: z.number().int().positive().optional(),
    keepHistory: z.boolean().optional(),
    keepFinishedBytes: z.number().int().nonnegative().optional(),
    maxPayload: z.union([z.number().int().min(1024), z.literal(false)]).optional(),
    childCheckMs: z.number().int().min(100).optional(),
    childRuns: z.union([z.boolean(), obj<ChildRuns>("a ChildRuns port { start, cancel }", (v) => typeof v.start === "function" && typeof v.cancel === "function")]).optional(),
    limits: obj<LimitGate>("a LimitGate", (v) => typeof v.request === "function" && typeof v.release === "function").optional(),
    runLimits: z.boolean().optional(),
    workflows: z.array(z.custom<Workflow<never>>((v) => typeof v === "object" && v !== null && Array.isArray((v as { states?: unknown }).states), { message: "must be a workflow from workflow()" })).optional(),
  })
  .strict();
