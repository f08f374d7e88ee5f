// The web view's server and fold without a browser, over an embedded engine: the
// attempts fold (every attempt with its error and output), the run list, record and
// plan, the event stream, retry by POST, and what the server refuses (foreign Host,
// foreign Origin, non-JSON POSTs, unknown paths, a public host without a token).
import { afterEach, describe, expect, it } from "vitest";
import { workflow } from "../../src/dsl/workflow.js";
import { NonRetryableError, UsageError } from "../../src/errors/base.js";
import { createEmbeddedBackend } from "../../src/ui/embedded-backend.js";
import { createRunViewFold, type RunViewPatch } from "../../src/ui/run-view.js";
import { startUiServer, type UiServer } from "../../src/ui/server.js";
import { isLoopbackHost, resolveUiServerOptions } from "../../src/ui/ui-options.js";
import { runCli } from "../../src/cli/run-cli.js";
import { testEngine, type TestEngine } from "../support/runtime-fixtures.js";

const flaky = workflow("flaky", { version: "1" });
const only = flaky.state("only");
only.task("first", { executor: "t/first" }).then(only.task("second", { executor: "t/second", retries: 1, backoff: { initialMs: 1, maxMs: 1 } }));

let env: TestEngine | undefined;
let ui: UiServer | undefined;
afterEach(async () => {
  await ui?.close();
  await env?.close();
  ui = undefined;
  env = undefined;
});

/** An engine whose "second" task fails `failures` times (the first with a retryable error, then for good). */
async function start(failures: { count: number }) {
  env = testEngine();
  let calls = 0;
  env.registry.namespace("t")
    .register("first", () => ({ n: 1 }))
    .register("second", () => {
      calls++;
      if (calls <= failures.count) {
        if (calls === 1) throw new Error("flaked once");
        throw new NonRetryableError("still broken", { code: "STILL_BROKEN" });
      }
      return { done: true };
    });
  const backend = createEmbeddedBackend({ engine: env.engine, transport: env.transport, workflow: flaky, registry: env.registry, concurrency: 4 });
  const handle = await env.engine.run(flaky, undefined);
  backend.track(handle.runId);
  ui = await startUiServer({ backend, port: 0, flushMs: 5 });
  return { handle, base: ui.url };
}

/** Read event-stream patches until `until` says stop. */
async function readPatches(url: string, until: (p: RunViewPatch) => boolean): Promise<RunViewPatch[]> {
  const res = await fetch(url);
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const patches: RunViewPatch[] = [];
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the event stream ended");
    text += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, cut);
      text = text.slice(cut + 2);
      const data = block.split("\n").find((l) => l.startsWith("data: "));
      if (!block.includes("event: patch") || data === undefined) continue;
      const patch = JSON.parse(data.slice(6)) as RunViewPatch;
      patches.push(patch);
      if (until(patch)) {
        await reader.cancel();
        return patches;
      }
    }
  }
}

describe("web view - server and fold", () => {
  it("ui fold - lists every attempt of a task with its error, worker and output", async () => {
    const { handle } = await start({ count: 1 });
    expect((await handle.result()).status).toBe("succeeded");
    const view = createRunViewFold(handle.runId);
    for (const e of await env!.events(handle.runId)) view.apply(e);
    const attempts = view.attemptsOf("only/1/second");
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([[1, "failed"], [2, "succeeded"]]);
    expect(attempts[0]!.error?.message).toContain("flaked once");
    expect(attempts[1]!.output).toEqual({ done: true });
    expect(attempts[1]!.workerId).toEqual(expect.any(String));
    const patch = view.takePatch()!;
    expect(patch.full).toBe(true);
    expect(Object.keys(patch.tasks).sort()).toEqual(["only/1/first", "only/1/second"]);
    expect(view.takePatch()).toBeUndefined();
  });

  it("ui server - serves the run list, a run with its plan, and its event stream", async () => {
    const { handle, base } = await start({ count: 0 });
    await handle.result();
    const list = (await (await fetch(`${base}api/runs?status=succeeded`)).json()) as { runs: { runId: string }[]; next?: string };
    expect(list.runs.map((r) => r.runId)).toEqual([handle.runId]);
    expect(list.next).toBeUndefined();
    expect(((await (await fetch(`${base}api/runs?workflow=other`)).json()) as { runs: unknown[] }).runs).toEqual([]);
    expect((await fetch(`${base}api/runs?status=bogus`)).status).toBe(400);
    const run = (await (await fetch(`${base}api/runs/${handle.runId}`)).json()) as { record: { status: string }; plan: { states: { phases: string[][] }[] } };
    expect(run.record.status).toBe("succeeded");
    expect(run.plan.states[0]!.phases).toEqual([["first"], ["second"]]);
    const patches = await readPatches(`${base}api/runs/${handle.runId}/events`, (p) => p.run.status === "succeeded");
    expect(patches[patches.length - 1]!.tasks["only/1/second"]!.attempts[0]!.status).toBe("succeeded");
    expect((await fetch(`${base}api/runs/run_unknown`)).status).toBe(404);
    const html = await fetch(base);
    expect(html.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect((await fetch(`${base}vendor/dagre.js`)).status).toBe(200);
  });

  it("ui server - retries a failed run by POST and streams it to success", async () => {
    const failures = { count: 2 };
    const { handle, base } = await start(failures);
    expect((await handle.result()).status).toBe("failed");
    const refused = await fetch(`${base}api/runs/${handle.runId}/retry`, { method: "POST", body: "{}" });
    expect(refused.status).toBe(415);
    const foreign = await fetch(`${base}api/runs/${handle.runId}/retry`, { method: "POST", headers: { "content-type": "application/json", origin: "http://evil.example" }, body: "{}" });
    expect(foreign.status).toBe(403);
    const badFrom = await fetch(`${base}api/runs/${handle.runId}/retry`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: { state: "only", task: "nope" } }) });
    expect(badFrom.status).toBe(409);
    expect(((await badFrom.json()) as { error: { code: string } }).error.code).toBe("USAGE");
    failures.count = 0;
    const ok = await fetch(`${base}api/runs/${handle.runId}/retry`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: { state: "only", task: "second" } }) });
    expect(ok.status, await ok.clone().text()).toBe(200);
    const patches = await readPatches(`${base}api/runs/${handle.runId}/events`, (p) => p.run.status === "succeeded");
    const attempts = patches[patches.length - 1]!.tasks["only/1/second"]!.attempts;
    expect(attempts.map((a) => [a.round, a.status])).toEqual([[0, "failed"], [0, "failed"], [1, "succeeded"]]);
    expect(attempts[1]!.error?.code).toBe("STILL_BROKEN");
    const again = await fetch(`${base}api/runs/${handle.runId}/cancel`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(((await again.json()) as { status: string }).status).toBe("succeeded");
  });

  it("ui server - refuses other Host names without a token, and anything but its own routes", async () => {
    const { base } = await start({ count: 0 });
    const port = new URL(base).port;
    const { request } = await import("node:http");
    const status = (path: string, host: string): Promise<number> =>
      new Promise((resolve, reject) => {
        request({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on("error", reject).end();
      });
    expect(await status("/api/runs", "attacker.example")).toBe(403);
    expect(await status("/api/runs", `localhost:${port}`)).toBe(200);
    expect(await status("/../package.json", `127.0.0.1:${port}`)).toBe(404);
    expect(await status("/ui/app.js", `127.0.0.1:${port}`)).toBe(404);
    expect((await fetch(`${base}api/runs`, { method: "DELETE" })).status).toBe(405);
  });

  it("ui options - a host other than loopback needs a long enough token", () => {
    expect(() => resolveUiServerOptions({ host: "0.0.0.0" })).toThrow(UsageError);
    expect(() => resolveUiServerOptions({ host: "0.0.0.0" })).toThrow(/--auth-token/);
    expect(() => resolveUiServerOptions({ host: "0.0.0.0", authToken: "short" })).toThrow(/at least 16/);
    expect(resolveUiServerOptions({ host: "0.0.0.0", authToken: "a-long-enough-token-1234" })).toMatchObject({ loopback: false, port: 8080 });
    expect(resolveUiServerOptions({})).toMatchObject({ host: "127.0.0.1", loopback: true, authToken: undefined });
    expect([isLoopbackHost("127.0.0.1"), isLoopbackHost("localhost"), isLoopbackHost("[::1]"), isLoopbackHost("10.0.0.1"), isLoopbackHost("0.0.0.0")]).toEqual([true, true, true, false, false]);
  });

  it("ui cli - ui and run --ui refuse a public host without a token before connecting or running (exit 2)", async () => {
    const run = async (...argv: string[]) => {
      let stderr = "";
      const code = await runCli(argv, { stdout: { write: () => true }, stderr: { write: (t: string) => (stderr += t) }, isTTY: false }, undefined);
      return { code, stderr };
    };
    const ui = await run("ui", "--nats", "nats://127.0.0.1:1", "--host", "0.0.0.0");
    expect(ui.code).toBe(2);
    expect(ui.stderr).toContain("--auth-token");
    const embedded = await run("run", "examples/etl.ts", "--executors", "workers/etl.ts", "--ui", "--ui-host", "0.0.0.0");
    expect(embedded.code).toBe(2);
    expect(embedded.stderr).toContain("PHASEFLOW_UI_TOKEN");
    expect((await run("run", "examples/etl.ts", "--ui-port", "9000")).stderr).toContain("--ui-port only apply with --ui");
    expect((await run("run", "--nats", "nats://127.0.0.1:1", "--workflow", "etl", "--ui")).stderr).toContain("phaseflow ui --nats");
    expect((await run("ui", "--nats", "nats://127.0.0.1:1", "--port", "70000")).stderr).toContain("TCP port");
  });
});
