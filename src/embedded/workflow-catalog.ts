/**
 * The workflows an engine or a coordinator serves: every version of every name it was
 * given, each with its compiled plan (README "Deploying new versions").
 *
 * - `resolve(name, version?)`: a start's workflow — the one asked for, else the latest
 *   version (natural, semver-aware order: src/plan/versions.ts).
 * - `byPlan(planHash)`: a run's own plan, for resume, retry, signals and takeover. Runs
 *   are pinned to the plan they started with (or were upgraded to), never to a name.
 *
 * Two modules giving one name and version with the same plan are one entry; with
 * different plans they are refused, since a run's version would not say which it runs.
 *
 * The one catalog of both an engine and a coordinator: a coordinator adds what it serves
 * compiled (`add`); an embedded engine adds what it meets (`know`: a workflow run, given
 * in `createEngine({ workflows })`, or named by handle in a child node, transitively),
 * compiled only when its plan is first asked for, since its registry may still be filled.
 */
import { isWorkflow, type Workflow } from "../dsl/workflow.js";
import { UsageError } from "../errors/base.js";
import type { Plan } from "../plan/schema.js";
import { compareVersions } from "../plan/versions.js";

export interface CatalogEntry {
  readonly workflow: Workflow<unknown>;
  readonly plan: Plan;
}

/** How a workflow version is named in messages: `etl@2`. */
export const versionLabel = (name: string, version: string): string => `${name}@${version}`;

/** An entry compiled when its plan is first read (`know`). */
class LazyEntry implements CatalogEntry {
  private compiled: Plan | undefined;
  constructor(
    readonly workflow: Workflow<unknown>,
    private readonly compileIt: (wf: Workflow<unknown>) => Plan,
    private readonly onPlan: (entry: CatalogEntry) => void,
  ) {}
  get plan(): Plan {
    if (!this.compiled) {
      this.compiled = this.compileIt(this.workflow);
      this.onPlan(this);
    }
    return this.compiled;
  }
}

export class WorkflowCatalog {
  private readonly byName = new Map<string, CatalogEntry[]>();
  private readonly plans = new Map<string, CatalogEntry>();
  private readonly seen = new WeakSet<object>();

  /** `compile`: how `know` compiles a workflow when its plan is first read. Default: none (only `add`). */
  constructor(private readonly compileIt?: (wf: Workflow<unknown>) => Plan) {}

  /**
   * Know `wf` and every workflow its child nodes name by handle, transitively, compiled
   * on first use. The first workflow known of a name and version stays; `plan` compiles it.
   * @throws UsageError when the catalog was made without a compile function
   */
  know(wf: Workflow<unknown>): void {
    const compileIt = this.compileIt;
    if (!compileIt) throw new UsageError("phaseflow bug: WorkflowCatalog.know needs a compile function");
    const stack: unknown[] = [wf];
    while (stack.length > 0) {
      const w = stack.pop();
      if (!isWorkflow(w) || this.seen.has(w)) continue;
      this.seen.add(w);
      if (!this.find(w.name, w.version)) this.insert(new LazyEntry(w, compileIt, (e) => this.plans.set(e.plan.planHash, e)));
      for (const s of w.states) for (const t of s.tasks) if (t.wait?.kind === "child") stack.push(t.wait.workflow);
    }
  }

  private insert(entry: CatalogEntry): void {
    const versions = this.byName.get(entry.workflow.name) ?? [];
    versions.push(entry);
    versions.sort((a, b) => compareVersions(a.workflow.version, b.workflow.version));
    this.byName.set(entry.workflow.name, versions);
  }

  /**
   * Add a workflow version; the same version with the same plan again is a no-op.
   * @throws UsageError when the name and version are served with another plan
   */
  add(workflow: Workflow<unknown>, plan: Plan): CatalogEntry {
    const versions = this.byName.get(workflow.name) ?? [];
    const same = versions.find((e) => e.workflow.version === plan.version);
    if (same) {
      if (same.plan.planHash === plan.planHash) return same;
      throw new UsageError(
        `two different definitions of ${versionLabel(workflow.name, plan.version)} (plans ${same.plan.planHash.slice(0, 12)} and ${plan.planHash.slice(0, 12)}); give each change of a workflow a new version`,
      );
    }
    const entry: CatalogEntry = { workflow, plan };
    this.insert(entry);
    this.plans.set(plan.planHash, entry);
    return entry;
  }

  /** Served workflow names. */
  names(): string[] {
    return [...this.byName.keys()];
  }

  /** Every entry: each name's versions, oldest first. */
  entries(): CatalogEntry[] {
    return [...this.byName.values()].flat();
  }

  /** The versions served of `name`, oldest first. */
  versionsOf(name: string): string[] {
    return (this.byName.get(name) ?? []).map((e) => e.workflow.version);
  }

  has(name: string, version?: string): boolean {
    return this.find(name, version) !== undefined;
  }

  /** The entry of `name` at `version` (undefined or null: the latest), undefined when not served. */
  find(name: string, version?: string | null): CatalogEntry | undefined {
    const versions = this.byName.get(name);
    if (!versions || versions.length === 0) return undefined;
    return version === undefined || version === null ? versions[versions.length - 1] : versions.find((e) => e.workflow.version === version);
  }

  /**
   * The entry a start of `name` (at `version`, default the latest) runs.
   * @throws UsageError naming what is served instead
   */
  resolve(name: string, version?: string): CatalogEntry {
    const entry = this.find(name, version);
    if (entry) return entry;
    if (!this.byName.has(name)) throw new UsageError(`workflow "${name}" is not served here; served: ${this.describe() || "(none)"}`);
    throw new UsageError(`version "${version}" of workflow "${name}" is not served here; served versions: ${this.versionsOf(name).join(", ")}`);
  }

  /** The entry whose plan has this hash (a run's pinned plan), undefined when not served (or, known by `know`, not compiled yet). */
  byPlan(planHash: string): CatalogEntry | undefined {
    return this.plans.get(planHash);
  }

  /** `etl@1, etl@2, report@3` */
  describe(): string {
    return this.entries()
      .map((e) => versionLabel(e.workflow.name, e.workflow.version))
      .join(", ");
  }
}
