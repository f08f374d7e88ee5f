/**
 * The run driver's side of workflow concurrency: how a run of a workflow with
 * `concurrency` is admitted by the fleet's shared gate (kv-run-gate.ts), and its place
 * kept or given back as the run is begun, taken over, retried, ends or is lost.
 *
 * Without a gate (none configured) every run is admitted at once and every call here is
 * a no-op, so the driver (run-driver.ts) asks the same questions either way.
 */
import type { Workflow } from "../dsl/workflow.js";
import { runLimitKey } from "../embedded/run-limits.js";
import type { Logger } from "../registry/types.js";
import type { RunLimitRef } from "../runtime/core/run-limit-state.js";
import type { BackgroundJob } from "./background-job.js";
import type { KvRunGate, RunAdmission } from "./kv-run-gate.js";
import type { StoredRun } from "./run-store.js";
import type { StartOfRun } from "./run-takeover.js";

/** What a new start was told by the gate. */
export interface NewAdmission {
  /** Undefined: the workflow has no `concurrency`, or no gate enforces it here. */
  admission: RunAdmission | undefined;
  /** True when it waits in the queue of its key (`queue` next); false when it may start. */
  queued: boolean;
  /** What the stored run keeps of its limit, so a coordinator that takes it over keeps its place. */
  stored: StoredRun["runLimit"];
}

export class RunPlaces {
  constructor(
    private readonly gate: KvRunGate | undefined,
    private readonly logger: Logger,
  ) {}

  /** The limit a stored run holds a place of (or is queued for). */
  static refOf(run: StoredRun): RunLimitRef | undefined {
    return run.runLimit === undefined ? undefined : { workflow: run.workflow, key: run.runLimit.key, limit: run.runLimit.limit };
  }

  /** What a stored pending run queues for ("queued: workflow limit sync[ann] 1/1 in use, 0 queued ahead"); undefined once it holds its place, or when it has no limit. */
  async queuedFor(run: StoredRun): Promise<string | undefined> {
    const ref = RunPlaces.refOf(run);
    if (ref === undefined || this.gate === undefined || run.status !== "pending") return undefined;
    return this.gate.describe(run.runId, ref);
  }

  /** How a run of `wf` meets its workflow's `concurrency` (undefined: it has none, or no gate enforces it here). */
  admissionOf(wf: Workflow<unknown>, start: StartOfRun): RunAdmission | undefined {
    const c = wf.options.concurrency;
    if (c === undefined || this.gate === undefined) return undefined;
    const priority = typeof start.options.priority === "number" ? start.options.priority : (wf.options.priority ?? 3);
    return { ref: { workflow: wf.name, key: runLimitKey(wf, start.input), limit: c.limit }, onLimit: c.onLimit ?? "queue", priority };
  }

  /**
   * A new start: a place now, a place in the queue, or (onLimit "drop") a refusal
   * (RunLimitReachedError) before anything is stored.
   */
  async admit(runId: string, wf: Workflow<unknown>, start: StartOfRun, queuedAt: number): Promise<NewAdmission> {
    const admission = this.admissionOf(wf, start);
    if (admission === undefined || this.gate === undefined) return { admission: undefined, queued: false, stored: undefined };
    const queued = !(await this.gate.start(runId, admission, queuedAt));
    return { admission, queued, stored: { key: admission.ref.key, limit: admission.ref.limit, queuedAt } };
  }

  /**
   * A pending run taken over (queued, or admitted and not yet begun, by a coordinator that
   * died): its admission when it must wait in the queue again, in its old place; undefined
   * when it may start (it holds a place, takes one now, or needs none).
   */
  async requeue(runId: string, wf: Workflow<unknown>, start: StartOfRun, run: StoredRun): Promise<RunAdmission | undefined> {
    const admission = this.admissionOf(wf, start);
    if (admission === undefined || run.runLimit === undefined || this.gate === undefined) return undefined;
    return (await this.gate.requeue(runId, admission, run.runLimit.queuedAt)) ? undefined : admission;
  }

  /**
   * Wait for a place for a queued run held here. `park(job)` records the run as waiting
   * before the gate is asked (`job.stop()` stops waiting); `go(job)` runs once it has a
   * place, and answers false when the run is no longer wanted here (cancelled, lost,
   * closing): its place goes back then.
   */
  queue(runId: string, admission: RunAdmission, at: number, park: (job: BackgroundJob) => void, go: (job: BackgroundJob) => boolean): void {
    const gate = this.gate!; // an admission is only given where a gate enforces it
    this.logger.info({ runId, workflow: admission.ref.workflow, key: admission.ref.key, limit: admission.ref.limit }, "run queued: its key has as many runs in flight as its workflow's concurrency allows");
    const job: BackgroundJob = { stop: () => gate.stopWaiting(runId) };
    park(job);
    gate.wait(runId, admission, at, () => {
      if (!go(job)) gate.release(runId, admission.ref);
    });
  }

  /** A run in flight driven here (taken over, retried) keeps its place; one that lapsed is counted again. */
  async keep(run: StoredRun): Promise<void> {
    const ref = RunPlaces.refOf(run);
    if (ref !== undefined) await this.gate?.hold(run.runId, ref);
  }

  /** The run ended, failed here or was cancelled while waiting: its place (or queue entry) goes back. */
  release(runId: string, ref?: RunLimitRef): void {
    this.gate?.release(runId, ref);
  }

  /** A stored run that ended before it started gives its place (or queue entry) back. */
  giveBack(run: StoredRun): void {
    const ref = RunPlaces.refOf(run);
    if (ref !== undefined) this.gate?.release(run.runId, ref);
  }

  /** Another coordinator holds the run now (or will resume it): stop renewing its place. */
  forget(runId: string): void {
    this.gate?.forget(runId);
  }
}
