/**
 * The order of a run list (`run.list`, the web view's run list): newest first by start
 * time, ties by run id descending, and a cursor (the last run of a page) that says
 * where the next page starts, so paging stays stable while new runs arrive.
 */

/** Where a run stands in a newest-first list. */
export interface RunListCursor {
  at: number;
  runId: string;
}

/** The cursor of a run summary (its start time and id). */
export function cursorOf(run: { runId: string; startedAt?: number | undefined }): RunListCursor {
  return { at: run.startedAt ?? 0, runId: run.runId };
}

/** Whether `run` comes after `cursor` in a newest-first list. */
export function isAfterCursor(run: RunListCursor, cursor: RunListCursor): boolean {
  return run.at < cursor.at || (run.at === cursor.at && run.runId < cursor.runId);
}

/** Newest first; ties by run id, descending. */
export function compareNewestFirst(a: RunListCursor, b: RunListCursor): number {
  return b.at - a.at || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0);
}
