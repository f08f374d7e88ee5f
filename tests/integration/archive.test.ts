// Run archives: an embedded run (`phaseflow run --export`) and a fleet run (`phaseflow
// export <runId>`) written as JSON and as SQLite, read back (SQLite with better-sqlite3,
// as a reader without the engine would) and checked against the run's record and history.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ARCHIVE_FORMAT, type RunArchive } from "../../src/archive/archive.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { historyEvents } from "../../src/runtime/core/history.js";
import { recordOfHistory } from "../../src/runtime/core/run-record.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import type { StoredMessage } from "../../src/transport/messages.js";
import { ROOT, startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const url = inject("natsUrl");
const PREFIX = "archive";
const INPUT = { day: "2026-11-01", rows: 60, seed: 7 };
const dir = mkdtempSync(join(tmpdir(), "phaseflow-archive-"));

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false, cwd: ROOT });
  return { code, stdout, stderr };
}

const parse = (text: string | null): unknown => (text === null ? undefined : JSON.parse(text));

/** Check a JSON archive against the record and the stored history it was made from. */
function checkJson(file: string, record: RunRecord, history: readonly StoredMessage[] | undefined): RunArchive {
  const archive = JSON.parse(readFileSync(file, "utf8")) as RunArchive;
  expect(archive.format).toBe(ARCHIVE_FORMAT);
  expect(archive.runId).toBe(record.runId);
  if (history) expect(archive.history).toEqual(JSON.parse(JSON.stringify(history)));
  // The archive's record is the fold of its history, and agrees with the run's own record.
  expect(archive.record).toEqual(JSON.parse(JSON.stringify(recordOfHistory(archive.history))));
  expect(archive.record.status).toBe(record.status);
  expect(archive.record.output).toEqual(record.output);
  expect(archive.record.tasks.map((t) => [t.id, t.status, t.attempts, t.output])).toEqual(record.tasks.map((t) => [t.id, t.status, t.attempts, t.output]));
  return archive;
}

/** Check a SQLite archive, read with plain SQL, against the record and history of the JSON archive. */
function checkSqlite(file: string, record: RunRecord, archive: RunArchive): void {
  const db = new Database(file, { readonly: true });
  try {
    const run = db.prepare("SELECT * FROM runs").all() as Record<string, string | number | null>[];
    expect(run).toHaveLength(1);
    expect(run[0]).toMatchObject({ run_id: record.runId, workflow: record.workflow, status: record.status, plan_hash: record.planHash, archive_format: ARCHIVE_FORMAT });
    expect(parse(run[0]!.output as string)).toEqual(record.output);
    expect(parse(run[0]!.input as string)).toEqual(INPUT);

    const states = db.prepare("SELECT state, visit, status, output FROM states ORDER BY entered_at, state").all() as { state: string; visit: number; status: string; output: string | null }[];
    expect(states.map((s) => [s.state, s.visit, s.status, parse(s.output)])).toEqual(archive.record.states.map((s) => [s.name, s.visit, s.status, s.output]));

    const tasks = db.prepare("SELECT task_id, visit, status, attempts, output FROM tasks").all() as { task_id: string; visit: number; status: string; attempts: number; output: string | null }[];
    const byId = new Map(tasks.map((t) => [`${t.task_id}#${t.visit}`, t]));
    expect(tasks).toHaveLength(record.tasks.length);
    for (const t of record.tasks) {
      const row = byId.get(`${t.id}#${t.visit}`);
      expect(row, t.id).toBeDefined();
      expect([row!.status, row!.attempts, parse(row!.output)]).toEqual([t.status, t.attempts, t.output]);
    }

    const events = historyEvents(archive.history);
    const rows = db.prepare("SELECT pos, seq, kind, type, body FROM events ORDER BY pos").all() as { pos: number; seq: number; kind: string; type: string; body: string }[];
    expect(rows.map((r) => parse(r.body))).toEqual(JSON.parse(JSON.stringify(events)));
    const seqs = new Set(archive.history.map((m) => m.seq));
    for (const r of rows) expect(seqs.has(r.seq), `event ${r.pos} names a stored seq`).toBe(true);
    expect(rows.filter((r) => r.kind === "report").length).toBe(archive.history.filter((m) => m.message.kind === "report").length);

    // One attempt per dispatch, each with its accepted result, which is the task's output.
    const attempts = db.prepare("SELECT task_id, attempt, outcome, reports, output FROM attempts").all() as { task_id: string; attempt: number; outcome: string; reports: number; output: string | null }[];
    expect(attempts).toHaveLength(events.filter((e) => e.type === "task.dispatched").length);
    for (const a of attempts) {
      expect(a.outcome, a.task_id).toBe("succeeded");
      expect(a.reports).toBeGreaterThanOrEqual(1);
    }
    const succeeded = db.prepare("SELECT t.task_id, t.output AS task_output, a.output AS attempt_output FROM tasks t JOIN attempts a ON a.run_id = t.run_id AND a.task_id = t.task_id AND a.attempt = t.attempts AND a.visit = t.visit").all() as { task_id: string; task_output: string; attempt_output: string }[];
    expect(succeeded).toHaveLength(record.tasks.length);
  } finally {
    db.close();
  }
}

describe("archive - run archives in JSON and SQLite", () => {
  it("archive - an embedded run exported with run --export, as JSON and as SQLite", async () => {
    const [json, sqlite] = [join(dir, "embedded.json"), join(dir, "embedded.sqlite")];
    const { code, stdout, stderr } = await cli(["run", "examples/etl.ts", "--executors", "workers/etl.ts", "--input", JSON.stringify(INPUT), "--json", "--export", json, "--export", sqlite]);
    expect(code, stderr).toBe(0);
    expect(stderr).toContain(`written to ${json} (json)`);
    expect(stderr).toContain(`written to ${sqlite} (sqlite)`);
    const record = JSON.parse(stdout) as RunRecord;
    expect(record.status).toBe("succeeded");
    const archive = checkJson(json, record, undefined);
    checkSqlite(sqlite, record, archive);
  }, 60_000);

  it("archive - run --export with an unknown extension and no --export-format is refused before the run", async () => {
    const { code, stderr } = await cli(["run", "examples/etl.ts", "--executors", "workers/etl.ts", "--export", join(dir, "x.bin")]);
    expect(code).toBe(2);
    expect(stderr).toContain("--export-format json");
  });

  describe("a fleet run", () => {
    const processes: PhaseflowProcess[] = [];
    let client: Client;

    beforeAll(async () => {
      processes.push(await startCoordinatorProcess(url, PREFIX, ["examples/etl.ts"]));
      processes.push(await startWorkerProcess(url, PREFIX, ["workers/etl.ts"], ["--id", "aw1", "--concurrency", "4"]));
      client = await createClient({ servers: url, prefix: PREFIX });
    }, 90_000);
    afterAll(async () => {
      await client?.close();
      await stopAll(processes);
    }, 60_000);

    it("archive - phaseflow export writes the fleet run as JSON and SQLite; both agree with its record and history", async () => {
      const { runId } = await client.start("etl", INPUT);
      await client.waitForEnd(runId);
      const record = await client.get(runId);
      expect(record.status).toBe("succeeded");
      const { messages } = await client.transport.readHistory(runId);
      for (const format of ["json", "sqlite"]) {
        const { code, stdout, stderr } = await cli(["export", runId, "--nats", url, "--prefix", PREFIX, "--format", format, "--out", join(dir, `fleet.${format}`)]);
        expect(code, stderr).toBe(0);
        expect(stdout).toContain(`exported run ${runId} (succeeded, ${record.tasks.length} tasks, ${messages.length} stored messages)`);
      }
      const archive = checkJson(join(dir, "fleet.json"), record, messages);
      checkSqlite(join(dir, "fleet.sqlite"), record, archive);
    }, 60_000);

    it("archive - exporting an unknown run says so and writes nothing", async () => {
      const { code, stderr } = await cli(["export", "run_nope", "--nats", url, "--prefix", PREFIX, "--out", join(dir, "nope.json")]);
      expect(code).toBe(2);
      expect(stderr).toContain('no stored history of run "run_nope"');
      expect(() => readFileSync(join(dir, "nope.json"))).toThrow();
    });
  });
});
