// The web view in a real browser: Debian's chromium (apt; no browser download) driven
// by playwright-core, against a fleet of real processes on the shared nats-server and
// `phaseflow ui` with an auth token. One browser, one run: the run list, the run page
// following the run live (a task goes from running to succeeded without a reload), a
// failed task's error in its panel, retry from the page and the run's success, the
// workers page; a screenshot of the run page goes to test-artifacts/. Requests
// without the token are refused; `phaseflow workers` lists the same worker.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import { ROOT, STARTUP_TIMEOUT_MS, spawnPhaseflow, startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const CHROMIUM = process.env.PHASEFLOW_CHROMIUM ?? "/usr/bin/chromium";
const url = inject("natsUrl");
const PREFIX = "uibrowser";
const TOKEN = "test-token-0123456789abcdef";
const ARTIFACTS = join(ROOT, "test-artifacts");

const processes: PhaseflowProcess[] = [];
let browser: Browser | undefined;
let client: Client;
let base = "";
let dir = "";
let workerId = "";

describe("web view - in headless chromium", () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`the browser tests need chromium at ${CHROMIUM}; install it with: apt-get install -y chromium (or set PHASEFLOW_CHROMIUM to its path)`);
    }
    dir = mkdtempSync(join(tmpdir(), "phaseflow-ui-"));
    processes.push(await startCoordinatorProcess(url, PREFIX, ["tests/fixtures/ui/workflows.ts"]));
    const worker = await startWorkerProcess(url, PREFIX, ["tests/fixtures/ui/executors.ts"], ["--id", "ui-worker-1"]);
    processes.push(worker);
    workerId = "ui-worker-1";
    const ui = spawnPhaseflow(["ui", "--nats", url, "--prefix", PREFIX, "--port", "0", "--host", "0.0.0.0", "--auth-token", TOKEN]);
    processes.push(ui);
    const started = await ui.waitForLog((l) => l.msg === "web view started", STARTUP_TIMEOUT_MS);
    base = `http://127.0.0.1:${String(started.port)}/`;
    client = await createClient({ servers: url, prefix: PREFIX });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await stopAll(processes);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("web view - refuses every request without the token, and serves it with the token", async () => {
    for (const path of ["", "app.js", "vendor/dagre.js", "api/runs", "api/workers", "api/runs/run_x/events"]) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(401);
    }
    const post = await fetch(`${base}api/runs/run_x/cancel`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(post.status).toBe(401);
    const wrong = await fetch(`${base}api/runs`, { headers: { authorization: "Bearer wrong-token-0123456789" } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${base}api/runs`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(right.status).toBe(200);
    const login = await fetch(`${base}?token=${TOKEN}`, { redirect: "manual" });
    expect(login.status).toBe(303);
    expect(login.headers.get("set-cookie")).toContain("HttpOnly");
  });

  it("web view - shows a run live, a failed task's error, and a retry from the page to success", async () => {
    const { runId } = await client.start("ui-demo", { dir });
    const page: Page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    const failures: string[] = [];
    page.on("pageerror", (err) => failures.push(err.message));
    page.setDefaultTimeout(10_000);
    try {
      // The run list (the token moves from the address into a cookie).
      await page.goto(`${base}?token=${TOKEN}`);
      const row = page.locator(`tr[data-run="${runId}"]`);
      await row.waitFor();
      expect(await row.textContent()).toContain("ui-demo");

      // The run page, while the gate task runs.
      await row.locator("a").click();
      // The node as drawn while running (once, under CI load, a re-drawn gate read "queued"
      // right after it had been drawn running; the cause is not known yet).
      const gate = page.locator(`[data-task="prepare/1/gate"][data-status="running"]`);
      await gate.waitFor();
      expect(await page.locator("#run-status").getAttribute("data-status")).toBe("running");
      expect(await page.locator(`[data-task="prepare/1/fetch"]`).getAttribute("data-status")).toBe("succeeded");
      expect(await gate.textContent()).toContain("running");
      // The state machine shows both states, the current one marked.
      expect(await page.locator(`[data-state="prepare"]`).getAttribute("aria-label")).toContain("current state");

      // Open the gate: the page changes without a reload.
      await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
      writeFileSync(join(dir, "gate"), "");
      // The run moves on to "publish", whose task fails: the view follows the current state.
      await page.locator(`#run-status[data-status="failed"]`).waitFor();
      const publish = page.locator(`[data-task="publish/1/publish"]`);
      expect(await publish.getAttribute("data-status")).toBe("failed");
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
      // The first state's visit shows the gate done.
      await page.locator(`[data-visit="prepare/1"]`).click();
      expect(await page.locator(`[data-task="prepare/1/gate"]`).getAttribute("data-status")).toBe("succeeded");

      // The failed task's panel shows its error (code and message), by keyboard.
      await page.locator(`[data-state="publish"]`).focus();
      await page.keyboard.press("Enter");
      await publish.focus();
      await page.keyboard.press("Enter");
      const panel = page.locator("#task-panel");
      await panel.locator(".error-box").first().waitFor();
      const panelText = await panel.textContent();
      expect(panelText).toContain("PUBLISH_REFUSED");
      expect(panelText).toContain(`nothing to publish in ${dir}`);
      expect(panelText).toContain(workerId);

      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "ui-run-failed.png"), fullPage: true });

      // Fix the cause and retry from the page: the run succeeds.
      writeFileSync(join(dir, "fixed"), "");
      await page.locator("#retry-run").click();
      await page.locator(`#run-status[data-status="succeeded"]`).waitFor();
      expect(await page.locator(`[data-task="publish/1/publish"]`).getAttribute("data-status")).toBe("succeeded");
      expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
      const attempts = await panel.locator("li.attempt").count();
      expect(attempts).toBe(2);
      expect((await client.get(runId)).status).toBe("succeeded");

      // A screenshot for the artifacts, of the first state's DAG with a task's attempts open.
      await page.locator(`[data-state="prepare"]`).click();
      await page.locator(`[data-task="prepare/1/gate"]`).click();
      await page.screenshot({ path: join(ARTIFACTS, "ui-run-page.png"), fullPage: true });

      // The workers page lists the live worker.
      await page.goto(`${base}#/workers`);
      await page.locator(`tr[data-worker="${workerId}"]`).waitFor();
      expect(await page.locator(`tr[data-worker="${workerId}"]`).textContent()).toContain("ui/gate");
      expect(failures).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("web view - pages the run list newest first by cursor, filtered by workflow and status", async () => {
    // After the test above, the gate is open and publish is fixed: these end at once.
    const a = await client.start("ui-demo", { dir });
    await client.waitForEnd(a.runId);
    const b = await client.start("ui-demo", { dir });
    await client.waitForEnd(b.runId);
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const page = async (query: string) => (await (await fetch(`${base}api/runs?${query}`, auth)).json()) as { runs: { runId: string }[]; next?: string };
    const first = await page("workflow=ui-demo&limit=1");
    expect(first.runs.map((r) => r.runId)).toEqual([b.runId]);
    const second = await page(`workflow=ui-demo&limit=1&before=${first.next!}`);
    expect(second.runs.map((r) => r.runId)).toEqual([a.runId]);
    const all = await page("workflow=ui-demo&status=succeeded&limit=10");
    expect(all.runs.length).toBe(3);
    expect(all.next).toBeUndefined();
    expect((await page("workflow=other")).runs).toEqual([]);
    expect((await page("status=failed")).runs).toEqual([]);
  });

  it("workers - lists the live workers of the fleet from their heartbeats", async () => {
    const p = spawnPhaseflow(["workers", "--nats", url, "--prefix", PREFIX]);
    processes.push(p);
    const { code } = await p.exited;
    const out = p.output();
    expect(code, out).toBe(0);
    expect(out).toMatch(/WORKER\s+HOST\s+NAMESPACES\s+EXECUTORS\s+CONCURRENCY\s+IN FLIGHT/);
    expect(out).toContain(workerId);
    expect(out).toContain("ui/publish");
    expect(out).toContain("1 live worker");
  });
});
