/**
 * Refusals of `upgrade` (README "Deploying new versions"): a run moves onto another version's plan only when
 * that plan can carry on from where the run stands. Like the compiler, the check
 * collects every incompatibility before it refuses, each with a stable code, the path
 * of what it concerns and a message naming the entity and the way out.
 */
import { PhaseflowError } from "./base.js";

export const UPGRADE_ISSUE_CODES = [
  /** The state the run is in has no state of that name in the target plan. */
  "STATE_MISSING",
  /** A task of the current visit that finished or is under way has no task of that name in that state of the target plan. */
  "TASK_MISSING",
  /** Such a task runs another executor in the target plan. */
  "EXECUTOR_CHANGED",
  /** Such a task is another kind of node there (a task, a map, a signal, a sleep or a child node). */
  "NODE_KIND_CHANGED",
  /** A signal sent to the run and not consumed yet has no signal node of its name in the target plan. */
  "SIGNAL_NODE_MISSING",
] as const;

export type UpgradeIssueCode = (typeof UPGRADE_ISSUE_CODES)[number];

export interface UpgradeIssue {
  code: UpgradeIssueCode;
  /** `workflow/state` or `workflow/state/task`, or `workflow/signal:<name>`. */
  path: string;
  message: string;
}

/** A run and the version it is on or would move to. */
export interface UpgradeEnd {
  version: string;
  planHash: string;
}

/** The run cannot move onto the target plan: every reason is in `issues`; nothing was changed. */
export class UpgradeRefusedError extends PhaseflowError {
  readonly runId: string;
  readonly issues: readonly UpgradeIssue[];

  constructor(runId: string, workflow: string, from: string, to: string, issues: readonly UpgradeIssue[]) {
    const n = issues.length;
    const lines = issues.map((i) => `  [${i.code}] ${i.path}: ${i.message}`).join("\n");
    super("UPGRADE_INCOMPATIBLE", `run "${runId}" cannot move from ${workflow}@${from} to ${workflow}@${to}: ${n} incompatibilit${n === 1 ? "y" : "ies"} (nothing was changed):\n${lines}`, { retryable: false });
    this.runId = runId;
    this.issues = issues;
  }
}
