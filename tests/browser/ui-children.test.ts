// The web view links parent and child runs (DESIGN §10), in a real browser against a
// fleet of real processes: a parent's page links its child runs, a child's page links
// its parent (and its task panel the child node's run), and the parent's "list" link
// opens the run list filtered to its children.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createClient, type Client } from "../../src/fleet/client.js";
import { childRunIdOf } from "../../src/runtime/core/children.js";
import { STARTUP_TIMEOUT_MS, spawnPhaseflow, startCoordinatorProcess, startWorkerProcess, stopAll, type PhaseflowProcess } from "../support/processes.js";

const CHROMIUM = process.env.PHASEFLOW_CHROMIUM ?? "/usr/bin/chromium";
const url = inject("natsUrl");
const PREFIX = "uikids";

const processes: PhaseflowProcess[] = [];
let browser: Browser | undefined;
let client: Client;
let base = "";

describe("web view - parent and child runs in headless chromium", () => {
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`the browser tests need chromium at ${CHROMIUM}; install it with: apt-get install -y chromium (or set PHASEFLOW_CHROMIUM to its path)`);
    }
    const started = await Promise.all([
      startCoordinatorProcess(url, PREFIX, ["tests/fixtures/children/workflows.ts"]),
      startWorkerProcess(url, PREFIX, ["tests/fixtures/children/executors.ts"], ["--id", "kids-ui-worker"]),
    ]);
    processes.push(...started);
    const ui = spawnPhaseflow(["ui", "--nats", url, "--prefix", PREFIX, "--port", "0"]);
    processes.push(ui);
    const up = await ui.waitForLog((l) => l.msg === "web view started", STARTUP_TIMEOUT_MS);
    base = `http://127.0.0.1:${String(up.port)}/`;
    client = await createClient({ servers: url, prefix: PREFIX });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await stopAll(processes);
  });

  it("web view - a parent's page links its child runs, a child's page its parent, and the list filters by parent", async () => {
    const { runId } = await client.start("family", { base: 5, ms: 0 });
    expect((await client.waitForEnd(runId)).status).toBe("succeeded");
    const children = ["one", "each[0]", "each[1]", "each[2]"].map((task) => childRunIdOf(runId, "main", 1, task, 1));
    const page: Page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
    const failures: string[] = [];
    page.on("pageerror", (err) => failures.push(err.message));
    page.setDefaultTimeout(15_000);
    try {
      await page.goto(`${base}#/runs/${runId}`);
      await page.locator("#child-runs li").nth(3).waitFor();
      const linked = await page.locator("#child-runs li").evaluateAll((lis) => lis.map((li) => li.getAttribute("data-child")));
      expect([...linked].sort()).toEqual([...children].sort());

      // A child's page names its parent; its way back is a link.
      await page.locator(`#child-runs li[data-child="${children[0]}"] a`).click();
      const parentLink = page.locator("#parent-run");
      await parentLink.waitFor();
      expect(await parentLink.textContent()).toBe(runId);
      expect(await page.locator(".run-head").textContent()).toContain("node main/one");
      await parentLink.click();
      await page.locator("#child-runs").waitFor();

      // The list of all its children: the run list filtered by parent.
      await page.locator("#child-runs-all").click();
      await page.locator(`tr[data-run="${children[3]}"]`).waitFor();
      const rows = await page.locator("tr[data-run]").evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-run")));
      expect([...rows].sort()).toEqual([...children].sort());
      expect(await page.locator("h1").textContent()).toContain(`Child runs of ${runId}`);

      // The parent's task panel names the child node's run.
      await page.goto(`${base}#/runs/${runId}`);
      await page.locator(`[data-task="main/1/one"]`).click();
      expect(await page.locator("#task-child-run").textContent()).toBe(children[0]);
      expect(failures).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
