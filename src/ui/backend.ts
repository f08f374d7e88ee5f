/**
 * What the web view reads and does, behind one interface with two implementations: a
 * fleet (`phaseflow ui --nats`: the same client API as the CLI — run list from the
 * summaries, records, plans, cancel, retry — plus the history and live signals of a
 * run through the transport port, and the workers' heartbeats), and an embedded
 * engine (`phaseflow run --ui`: the runs of this process). The HTTP server only
 * speaks to this interface, so nothing else of NATS is reachable through it.
 */
import type { WorkerHeartbeat } from "../fleet/heartbeat.js";
import type { QueueRow } from "../fleet/queues-report.js";
import type { RunSummary } from "../fleet/api-schemas.js";
import type { RunListCursor } from "../fleet/run-list-order.js";
import type { Plan } from "../plan/schema.js";
import type { RunRecord, RunStatus } from "../runtime/core/run-record-schema.js";
import type { RunUpdate } from "../transport/messages.js";

export interface RunListQuery {
  workflow?: string;
  status?: RunStatus;
  /** Only the child runs of this run. */
  parent?: string;
  /** Most runs returned. */
  limit: number;
  /** Runs strictly older than this cursor (the last run of the previous page). */
  before?: RunListCursor;
}

export interface RunListPage {
  runs: RunSummary[];
  /** The cursor of the next page, absent on the last page. */
  next?: RunListCursor;
}

export interface StopFollowing {
  stop(): Promise<void>;
}

export interface UiBackend {
  /** "fleet" or "embedded": the page says which. */
  readonly mode: "fleet" | "embedded";
  listRuns(query: RunListQuery): Promise<RunListPage>;
  /** @throws RunNotFoundError */
  getRun(runId: string): Promise<RunRecord>;
  /** The record and, for a run that cannot move, what it waits for (fleet: a coordinator serving its version). */
  inspectRun?(runId: string): Promise<{ record: RunRecord; waiting?: string }>;
  /** The plan the run runs, or undefined when it is not served any more. */
  planOf(record: Pick<RunRecord, "workflow" | "planHash" | "version">): Promise<Plan | undefined>;
  /** Every event of the run from its start, then live, with its live signals. */
  follow(runId: string, onUpdate: (update: RunUpdate) => void): Promise<StopFollowing>;
  cancel(runId: string, reason: string): Promise<RunStatus>;
  /** Re-run a failed run (from its failed tasks, or from `from` and downstream); resolves once it is running again. */
  retry(runId: string, from?: { state: string; task: string }): Promise<void>;
  /** Live workers from their heartbeats (embedded: the in-process worker). */
  workers(): Promise<WorkerHeartbeat[]>;
  /** A fleet's task limits per key: running, waiting, rate use (`phaseflow queues`). Absent: not shown. */
  queues?(): Promise<{ rows: QueueRow[]; unanswered: string[] }>;
  close(): Promise<void>;
}
