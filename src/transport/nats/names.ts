/**
 * Every NATS name phaseflow uses, derived from one prefix, so two deployments can
 * share a server without seeing each other: prefix "pf" gives streams PF_TASKS and
 * PF_EVENTS, KV buckets pf_runs and pf_workers, subjects pf.task.<ns>.<executor>,
 * pf.evt.<runId>.d (decisions), pf.evt.<runId>.r (reports), pf.live.<runId>,
 * pf.ctl and pf.api.*. The coordinator service and the CLI read
 * names from here rather than spelling them out.
 *
 * Priority (README "Traffic control"): a task of priority 3 (the default) is stored on
 * `pf.task.<ns>.<executor>`, one of priority p != 3 on `pf.task.<ns>.<executor>.p<p>`. Each
 * level of a namespace has its own durable consumer (`pf_ns_<ns>` for 3, `pf_ns_<ns>_p<p>`
 * otherwise; filters `pf.task.<ns>.*` and `pf.task.<ns>.*.p<p>` never overlap, as a work-queue
 * stream requires), so workers can pull level 1 before level 5 (task-consumer.ts).
 */
import { UsageError } from "../../errors/base.js";

/** Lower-case letters, digits, `_` and `-`, starting with a letter: a subject token and a valid stream/bucket name part. */
const PREFIX = /^[a-z][a-z0-9_-]{0,31}$/;
/** A subject token: no dots, wildcards or whitespace. */
const TOKEN = /^[A-Za-z0-9_-]+$/;

export const DEFAULT_PREFIX = "pf";

/** Priority levels, first to last; 3 is the default and keeps the plain subject and consumer name. */
export const PRIORITY_LEVELS = [1, 2, 3, 4, 5] as const;
const PLAIN_LEVEL = 3;

/** The level a priority is stored at: anything but a whole number 1..5 counts as 3. */
export function priorityLevel(priority: number | undefined): number {
  return priority !== undefined && Number.isInteger(priority) && priority >= 1 && priority <= 5 ? priority : PLAIN_LEVEL;
}

export interface NatsNames {
  readonly prefix: string;
  readonly streams: { readonly tasks: string; readonly events: string };
  readonly buckets: { readonly runs: string; readonly workers: string };
  readonly subjects: {
    /** `<p>.task.>`: everything the tasks stream holds. */
    readonly tasks: string;
    /** `<p>.evt.>`: everything the events stream holds. */
    readonly events: string;
    /** `<p>.ctl`: control broadcasts (core NATS, not stored). */
    readonly control: string;
    /** `<p>.task.<ns>.<name>` for executor key `ns/name` at priority 3 (or none); `<p>.task.<ns>.<name>.p<N>` at priority N. */
    task(namespace: string, name: string, priority?: number): string;
    /** `<p>.task.<ns>.>`: every task of a namespace, at every level (the idle worker's doorbell). */
    namespaceTasks(namespace: string): string;
    /** The filter of a namespace's consumer for one priority level: `<p>.task.<ns>.*` (3) or `<p>.task.<ns>.*.p<N>`. */
    levelTasks(namespace: string, level: number): string;
    /** `<p>.task.<ns>.*.*`: the tasks of every level but 3 (a worker's bell; default tasks never match it). */
    otherLevelTasks(namespace: string): string;
    /** `<p>.evt.<runId>.d`: the run's decisions, written only by its leaseholder (fenced). */
    decisions(runId: string): string;
    /** `<p>.evt.<runId>.r`: the run's worker reports. */
    reports(runId: string): string;
    /** `<p>.evt.<runId>.*`: the run's whole history. */
    history(runId: string): string;
    /** `<p>.evt.<runId>.>`: the purge filter of a run's history. */
    historyPurge(runId: string): string;
    /** `<p>.live.<runId>`: live signals (core NATS, not stored). */
    live(runId: string): string;
    /** `<p>.api.<operation>`, e.g. `pf.api.run.start`. */
    api(operation: string): string;
  };
  /** Durable consumer shared by every worker serving `namespace`, for its priority-3 tasks: `<p>_ns_<ns>`. */
  namespaceConsumer(namespace: string): string;
  /** Durable consumer of one priority level of `namespace`: `<p>_ns_<ns>` for 3, `<p>_ns_<ns>_p<N>` otherwise. */
  levelConsumer(namespace: string, level: number): string;
}

/** Returns why `prefix` cannot be used, or undefined when it can. */
export function checkPrefix(prefix: string): string | undefined {
  if (PREFIX.test(prefix)) return undefined;
  return `prefix "${prefix}" must be 1-32 lower-case letters, digits, '_' or '-', starting with a letter (it becomes subject tokens and stream/bucket names)`;
}

/** Whether `value` can be one subject token (run ids, namespaces, executor names). */
export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}

/** Longest run id: it is one subject token, and a KV key part. */
export const MAX_RUN_ID_LENGTH = 200;

/**
 * Throws `UsageError` for a run id that cannot be one subject token (`"../../x"`, `"a.b"`, `"*"`),
 * before it reaches the server as a permissions violation or a malformed subject.
 *
 * @example
 * assertRunId("run_0mxdeq"); // fine
 * assertRunId("../../x");    // throws UsageError
 */
export function assertRunId(runId: string): void {
  if (runId.length <= MAX_RUN_ID_LENGTH && isSubjectToken(runId)) return;
  const shown = runId.length > 60 ? `${runId.slice(0, 60)}…` : runId;
  throw new UsageError(
    `run id "${shown}" is not valid: a run id is 1-${MAX_RUN_ID_LENGTH} letters, digits, '_' or '-' (it becomes a NATS subject token); copy it from "phaseflow status"`,
  );
}

/**
 * Derive every name from a prefix; throws `UsageError` for a prefix that is not subject-safe.
 *
 * @example
 * const names = natsNames("pf");
 * names.streams.tasks;               // "PF_TASKS"
 * names.subjects.task("etl", "load"); // "pf.task.etl.load"
 */
export function natsNames(prefix: string = DEFAULT_PREFIX): NatsNames {
  const problem = checkPrefix(prefix);
  if (problem !== undefined) throw new UsageError(`${problem}; pick another --prefix`);
  const upper = prefix.toUpperCase();
  return {
    prefix,
    streams: { tasks: `${upper}_TASKS`, events: `${upper}_EVENTS` },
    buckets: { runs: `${prefix}_runs`, workers: `${prefix}_workers` },
    subjects: {
      tasks: `${prefix}.task.>`,
      events: `${prefix}.evt.>`,
      control: `${prefix}.ctl`,
      task: (namespace, name, priority) => {
        const level = priorityLevel(priority);
        return `${prefix}.task.${token(namespace, "namespace")}.${token(name, "executor name")}${level === PLAIN_LEVEL ? "" : `.p${level}`}`;
      },
      namespaceTasks: (namespace) => `${prefix}.task.${token(namespace, "namespace")}.>`,
      otherLevelTasks: (namespace) => `${prefix}.task.${token(namespace, "namespace")}.*.*`,
      levelTasks: (namespace, level) => `${prefix}.task.${token(namespace, "namespace")}.*${priorityLevel(level) === PLAIN_LEVEL ? "" : `.p${priorityLevel(level)}`}`,
      decisions: (runId) => `${prefix}.evt.${token(runId, "run id")}.d`,
      reports: (runId) => `${prefix}.evt.${token(runId, "run id")}.r`,
      history: (runId) => `${prefix}.evt.${token(runId, "run id")}.*`,
      historyPurge: (runId) => `${prefix}.evt.${token(runId, "run id")}.>`,
      live: (runId) => `${prefix}.live.${token(runId, "run id")}`,
      api: (operation) => `${prefix}.api.${operation}`,
    },
    namespaceConsumer: (namespace) => `${prefix}_ns_${token(namespace, "namespace")}`,
    levelConsumer: (namespace, level) => `${prefix}_ns_${token(namespace, "namespace")}${priorityLevel(level) === PLAIN_LEVEL ? "" : `_p${priorityLevel(level)}`}`,
  };
}

function token(value: string, what: string): string {
  if (!isSubjectToken(value)) {
    throw new UsageError(`${what} "${value}" cannot be a NATS subject token: use only letters, digits, '_' and '-' (no dots, spaces, '*' or '>')`);
  }
  return value;
}
