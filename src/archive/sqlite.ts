/**
 * The SQLite run archive: one file, tables `runs`, `states`, `tasks`, `attempts` and
 * `events` (SCHEMA below; README "Run archives" documents it for readers without the
 * engine). Every JSON value (inputs, outputs, errors, event bodies) is stored as JSON
 * text, NULL when absent; times are ms since the epoch. Tables are keyed by `run_id`
 * so archives can be merged into one database with `ATTACH` + `INSERT ... SELECT`.
 *
 * It needs `better-sqlite3` (an optional peer dependency: a native module, so phaseflow
 * installs without a compiler); it is loaded only when a SQLite archive is written.
 * The file is written beside the target and renamed into place, so a failed export
 * never leaves half an archive.
 */
import type BetterSqlite3 from "better-sqlite3";
import { renameSync, rmSync } from "node:fs";
import { UsageError } from "../errors/base.js";
import { archivedEvents, attemptRows, type RunArchive } from "./archive.js";

export const SQLITE_SCHEMA = `
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY,
  workflow TEXT NOT NULL,
  version TEXT NOT NULL,
  plan_hash TEXT NOT NULL,
  status TEXT NOT NULL,
  current_state TEXT,
  started_at INTEGER,
  finished_at INTEGER,
  input TEXT,
  output TEXT,
  error TEXT,
  reason TEXT,
  options TEXT,
  record TEXT NOT NULL,
  exported_at INTEGER NOT NULL,
  archive_format TEXT NOT NULL,
  archive_version INTEGER NOT NULL,
  parent_run_id TEXT
);
CREATE TABLE states (
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  state TEXT NOT NULL,
  visit INTEGER NOT NULL,
  status TEXT NOT NULL,
  entered_at INTEGER NOT NULL,
  exited_at INTEGER,
  input TEXT,
  output TEXT,
  next TEXT,
  PRIMARY KEY (run_id, state, visit)
);
CREATE TABLE tasks (
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  task_id TEXT NOT NULL,
  state TEXT NOT NULL,
  visit INTEGER NOT NULL,
  task TEXT NOT NULL,
  executor TEXT,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  dispatch_id TEXT,
  worker_id TEXT,
  started_at INTEGER,
  finished_at INTEGER,
  duration_ms REAL,
  output TEXT,
  error TEXT,
  reason TEXT,
  child_run_id TEXT,
  PRIMARY KEY (run_id, task_id, visit)
);
CREATE TABLE attempts (
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  dispatch_id TEXT NOT NULL,
  task_id TEXT NOT NULL,
  state TEXT NOT NULL,
  visit INTEGER NOT NULL,
  task TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  executor TEXT NOT NULL,
  dispatched_at INTEGER NOT NULL,
  deadline INTEGER,
  outcome TEXT NOT NULL,
  worker_id TEXT,
  reported_at INTEGER,
  duration_ms REAL,
  output TEXT,
  error TEXT,
  reports INTEGER NOT NULL,
  PRIMARY KEY (run_id, dispatch_id)
);
CREATE TABLE events (
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  pos INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  state TEXT,
  visit INTEGER,
  task TEXT,
  attempt INTEGER,
  dispatch_id TEXT,
  body TEXT NOT NULL,
  PRIMARY KEY (run_id, pos)
);
CREATE INDEX tasks_by_status ON tasks (run_id, status);
CREATE INDEX events_by_type ON events (run_id, type);
`;

/** JSON text, or NULL for an absent value. */
const json = (v: unknown): string | null => (v === undefined ? null : JSON.stringify(v));

type DatabaseCtor = typeof BetterSqlite3;

/** better-sqlite3's constructor; `importer` stands in for the dynamic import in tests. */
export async function loadSqlite(importer: () => Promise<unknown> = () => import("better-sqlite3")): Promise<DatabaseCtor> {
  try {
    // A CommonJS module: its export is the default of the ES namespace.
    return ((await importer()) as { default: DatabaseCtor }).default;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new UsageError(
        "SQLite archives need the better-sqlite3 package, which is not installed: run `npm install better-sqlite3` next to phaseflow (it downloads a prebuilt binary, or builds one with python3, make and a C++ compiler), or export with --format json",
      );
    }
    throw err;
  }
}

/**
 * Write `archive` as a SQLite database at `file` (replacing it).
 * @example
 * await writeSqliteArchive(archiveOf(runId, messages), "run.sqlite");
 */
export async function writeSqliteArchive(archive: RunArchive, file: string): Promise<void> {
  const Database = await loadSqlite();
  const tmp = `${file}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.exec(SQLITE_SCHEMA);
    const r = archive.record;
    const runId = archive.runId;
    const insertAll = db.transaction(() => {
      db.prepare(
        `INSERT INTO runs VALUES (@run_id, @workflow, @version, @plan_hash, @status, @current_state, @started_at, @finished_at, @input, @output, @error, @reason, @options, @record, @exported_at, @archive_format, @archive_version, @parent_run_id)`,
      ).run({
        run_id: runId,
        workflow: r.workflow,
        version: r.version,
        plan_hash: r.planHash,
        status: r.status,
        current_state: r.currentState ?? null,
        started_at: r.startedAt ?? null,
        finished_at: r.finishedAt ?? null,
        input: json(r.input),
        output: json(r.output),
        error: json(r.error),
        reason: r.reason ?? null,
        options: json(r.options),
        record: JSON.stringify(r),
        exported_at: archive.exportedAt,
        archive_format: archive.format,
        archive_version: archive.formatVersion,
        parent_run_id: r.parent?.runId ?? null,
      });
      const state = db.prepare(`INSERT INTO states VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const s of r.states) state.run(runId, s.name, s.visit, s.status, s.enteredAt, s.exitedAt ?? null, json(s.input), json(s.output), s.next ?? null);
      const task = db.prepare(`INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const t of r.tasks) {
        task.run(runId, t.id, t.state, t.visit, t.task, t.executor ?? null, t.status, t.attempts, t.dispatchId ?? null, t.workerId ?? null, t.startedAt ?? null, t.finishedAt ?? null, t.durationMs ?? null, json(t.output), json(t.error), t.reason ?? null, t.child ?? null);
      }
      const events = archivedEvents(archive.history);
      const attempt = db.prepare(`INSERT INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const a of attemptRows(events.map((e) => e.event))) {
        attempt.run(runId, a.dispatchId, a.taskId, a.state, a.visit, a.task, a.attempt, a.executor, a.dispatchedAt, a.deadline, a.outcome, a.workerId ?? null, a.reportedAt ?? null, a.durationMs ?? null, json(a.output), json(a.error), a.reports);
      }
      const event = db.prepare(`INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const { pos, seq, kind, event: e } of events) {
        const f = e as { state?: string; visit?: number; task?: string; attempt?: number; dispatchId?: string };
        event.run(runId, pos, seq, kind, e.type, e.at, f.state ?? null, f.visit ?? null, f.task ?? null, f.attempt ?? null, f.dispatchId ?? null, JSON.stringify(e));
      }
    });
    insertAll();
    db.close();
    renameSync(tmp, file);
  } catch (err) {
    if (db.open) db.close();
    rmSync(tmp, { force: true });
    throw err;
  }
}
