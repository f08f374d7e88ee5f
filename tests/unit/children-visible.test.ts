// Parent and child runs, visible (DESIGN §10): `status` text names a child's parent and a
// parent's child runs, the run list filters by parent (the web view's /api/runs and its
// backend), and archives (`export`) carry the child ids and the parent.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { archiveOf } from "../../src/archive/archive.js";
import { writeSqliteArchive, loadSqlite } from "../../src/archive/sqlite.js";
import { formatRunRecord } from "../../src/cli/format-run.js";
import { createEngine, type Engine } from "../../src/embedded/engine.js";
import { childRunIdOf } from "../../src/runtime/core/children.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { createMemoryHub, type MemoryHub } from "../../src/transport/memory/index.js";
import type { Transport } from "../../src/transport/port.js";
import { createEmbeddedBackend } from "../../src/ui/embedded-backend.js";
import { startUiServer, type UiServer } from "../../src/ui/server.js";
import { registry } from "../fixtures/children/executors.js";
import { family } from "../fixtures/children/workflows.js";

let hub: MemoryHub | undefined;
let engine: Engine | undefined;
let ui: UiServer | undefined;
afterEach(async () => {
  await ui?.close();
  await engine?.close();
  await hub?.close();
  ui = engine = hub = undefined;
});

async function familyRun(): Promise<{ engine: Engine; transport: Transport; record: RunRecord; children: string[] }> {
  hub = createMemoryHub();
  const transport = hub.connect();
  engine = createEngine({ registry, transport, worker: true });
  const record = await (await engine.run(family, { base: 2, ms: 0 })).result();
  expect(record.status).toBe("succeeded");
  const children = ["one", "each[0]", "each[1]", "each[2]"].map((task) => childRunIdOf(record.runId, "main", 1, task, 1));
  return { engine, transport, record, children };
}

describe("children - visible", () => {
  it("children - status text names a parent's child runs and a child's parent", async () => {
    const { engine: e, record, children } = await familyRun();
    const text = formatRunRecord(record);
    expect(text).toContain(`child runs (4; all: phaseflow status --parent ${record.runId}):`);
    for (const id of children) expect(text).toContain(id);
    const child = e.get(children[0]!)!;
    expect(formatRunRecord(child)).toContain(`parent: run ${record.runId} (node main/one, attempt 1, depth 1)`);
  });

  it("children - the web view's run list filters by parent, and a child's page names its parent", async () => {
    const { engine: e, transport, record, children } = await familyRun();
    const backend = createEmbeddedBackend({ engine: e, transport, workflow: family, registry, concurrency: 4 });
    backend.track(record.runId);
    ui = await startUiServer({ backend, port: 0, flushMs: 5 });
    const list = (await (await fetch(`${ui.url}api/runs?parent=${record.runId}`)).json()) as { runs: { runId: string; parent?: string }[] };
    expect(list.runs.map((r) => r.runId).sort()).toEqual([...children].sort());
    for (const r of list.runs) expect(r.parent).toBe(record.runId);
    const page = (await (await fetch(`${ui.url}api/runs/${children[1]}`)).json()) as { record: RunRecord };
    expect(page.record.parent).toMatchObject({ runId: record.runId, task: "each[0]" });
    // Unfiltered, the list is the runs started here.
    const all = (await (await fetch(`${ui.url}api/runs`)).json()) as { runs: { runId: string }[] };
    expect(all.runs.map((r) => r.runId)).toEqual([record.runId]);
    expect((await fetch(`${ui.url}api/runs?parent=not%20an%20id`)).status).toBe(400);
  });

  it("children - archives carry the child ids (JSON and SQLite) and a child's parent", async () => {
    const { transport, record, children } = await familyRun();
    const archive = archiveOf(record.runId, (await transport.readHistory(record.runId)).messages);
    expect(archive.children).toEqual(children);
    expect(archive.parent).toBeUndefined();
    const childArchive = archiveOf(children[0]!, (await transport.readHistory(children[0]!)).messages);
    expect(childArchive.parent).toBe(record.runId);
    expect(childArchive.children).toEqual([]);

    const file = join(mkdtempSync(join(tmpdir(), "phaseflow-kids-")), "run.sqlite");
    await writeSqliteArchive(archive, file);
    const Database = await loadSqlite();
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare("SELECT task, child_run_id FROM tasks WHERE child_run_id IS NOT NULL ORDER BY task").all() as { task: string; child_run_id: string }[];
      expect(rows.map((r) => r.child_run_id).sort()).toEqual([...children].sort());
      expect((db.prepare("SELECT parent_run_id FROM runs").get() as { parent_run_id: string | null }).parent_run_id).toBeNull();
    } finally {
      db.close();
    }
  });
});
