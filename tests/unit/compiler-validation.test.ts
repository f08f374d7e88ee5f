/**
 * One case per validation code: each workflow is valid but for one mistake, and the
 * compiler must report exactly that issue — class, codes, path, and a message that
 * names the entity and the fix. The cases table is typed by ValidationCode, so a new
 * code without a test fails to type-check.
 */
import { describe, expect, test } from "vitest";
import { z } from "zod";
import type { CompileOptions } from "../../src/compiler/compile.js";
import { workflow, type Workflow } from "../../src/dsl/workflow.js";
import { VALIDATION_CODES, type ValidationCode } from "../../src/errors/validation.js";
import { createRegistry } from "../../src/registry/registry.js";
import { issuesOf } from "./compiler-helpers.js";

interface Case {
  wf: Workflow<unknown>;
  options?: CompileOptions;
  path: string;
  /** Fragments the message must contain: the entity's name and the fix. */
  mentions: string[];
}

const other = workflow("other", { version: "1" });
const otherState = other.state("elsewhere");
const otherTask = otherState.task("far", { executor: "ns/far" });

/** A workflow "w" whose initial state "s" has task "a"; `build` adds the mistake. */
function withState(build: (wf: Workflow<unknown>, s: ReturnType<Workflow<unknown>["state"]>) => void): Workflow<unknown> {
  const wf = workflow("w", { version: "1" });
  const s = wf.state<string>("s");
  build(wf, s);
  return wf;
}

function registryWith(ns: string, name: string): CompileOptions["registry"] & object {
  const registry = createRegistry();
  registry.namespace(ns).register(name, () => null);
  return registry;
}

const cases: Record<ValidationCode, () => Case> = {
  CYCLE: () => ({
    wf: withState((_, s) => {
      const a = s.task("a", { executor: "ns/x" });
      const b = s.task("b", { executor: "ns/x" });
      const c = s.task("c", { executor: "ns/x" });
      s.task("d", { executor: "ns/x" }).dependsOn(a);
      a.then(b).then(c).then(a);
    }),
    path: "w/s",
    mentions: ['state "s"', "a -> b -> c -> a", "remove one of these edges"],
  }),
  CROSS_STATE_EDGE: () => {
    const wf = workflow("w", { version: "1" });
    const s1 = wf.state<string>("s1");
    const s2 = wf.state<string>("s2");
    const a = s1.task("a", { executor: "ns/a" });
    s2.task("b", { executor: "ns/b" }).dependsOn(a);
    s1.transition(s2);
    return { wf, path: "w/s2/b", mentions: ['"b"', '"a" of state "s1"', "wire tasks within one state"] };
  },
  CROSS_WORKFLOW_EDGE: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a" }).dependsOn(otherTask);
    }),
    path: "w/s/a",
    mentions: ['"a"', '"far" of workflow "other"', "own state"],
  }),
  DUPLICATE_TASK: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a" });
      s.task("a", { executor: "ns/b" });
    }),
    path: "w/s/a",
    mentions: ['task "a"', 'state "s"', "rename one"],
  }),
  DUPLICATE_STATE: () => ({
    wf: withState((wf, s) => {
      s.task("a", { executor: "ns/a" });
      wf.state("s").task("b", { executor: "ns/b" });
    }),
    path: "w/s",
    mentions: ['state "s"', "unique name"],
  }),
  UNKNOWN_TRANSITION_TARGET: () => ({
    wf: withState((wf, s) => {
      s.task("a", { executor: "ns/a" });
      const done = wf.state("done");
      done.task("d", { executor: "ns/d" });
      s.transition(otherState, { when: () => true }).transition(done);
    }),
    path: "w/s",
    mentions: ['state "s"', '"elsewhere" of workflow "other"', 'declare it with w.state'],
  }),
  UNKNOWN_ROUTE_TARGET: () => ({
    wf: withState((wf, s) => {
      const a = s.task("a", { executor: "ns/a" });
      const done = wf.state("done");
      done.task("d", { executor: "ns/d" });
      s.route(a, { away: otherState, home: done });
    }),
    path: "w/s",
    mentions: ['pathway "away"', '"elsewhere" of workflow "other"', "route it to a state"],
  }),
  UNKNOWN_ROUTER_TASK: () => ({
    wf: withState((wf, s) => {
      s.task("a", { executor: "ns/a" });
      const done = wf.state("done");
      done.task("d", { executor: "ns/d" });
      s.route("decide", { home: done });
    }),
    path: "w/s",
    mentions: ['task "decide"', 'state "s"', "route by one of its own tasks"],
  }),
  ROUTE_PATHWAY_WITHOUT_TARGET: () => ({
    wf: withState((wf, s) => {
      const a = s.task("a", { executor: "ns/a", output: z.object({ pathway: z.enum(["approve", "reject"]) }) });
      const done = wf.state("done");
      done.task("d", { executor: "ns/d" });
      s.route(a, { approve: done });
    }),
    path: "w/s",
    mentions: ['router "a"', '"reject"', "add it to the route"],
  }),
  ROUTE_AND_TRANSITIONS: () => ({
    wf: withState((wf, s) => {
      const a = s.task("a", { executor: "ns/a" });
      const done = wf.state("done");
      done.task("d", { executor: "ns/d" });
      s.route(a, { home: done }).transition(done);
    }),
    path: "w/s",
    mentions: ['state "s"', "either by one route or by guarded transitions"],
  }),
  UNREACHABLE_STATE: () => ({
    wf: withState((wf, s) => {
      s.task("a", { executor: "ns/a" });
      wf.state("orphan").task("o", { executor: "ns/o" });
    }),
    path: "w/orphan",
    mentions: ['state "orphan"', 'initial state "s"', "add a transition to it or remove it"],
  }),
  NO_FINAL_STATE_REACHABLE: () => ({
    wf: withState((wf, s) => {
      s.task("a", { executor: "ns/a" });
      const back = wf.state("back");
      back.task("b", { executor: "ns/b" });
      s.transition(back);
      back.transition(s);
    }),
    path: "w",
    mentions: ['initial state "s"', "mark it { final: true }"],
  }),
  FINAL_STATE_HAS_TRANSITIONS: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1" });
      const s = wf.state("s", { final: true });
      s.task("a", { executor: "ns/a" });
      const next = wf.state("next");
      next.task("n", { executor: "ns/n" });
      s.transition(next);
      return wf;
    })(),
    path: "w/s",
    mentions: ['state "s"', "drop { final: true } or the transitions"],
  }),
  MULTIPLE_INITIAL_STATES: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1" });
      const s = wf.state("s", { initial: true });
      s.task("a", { executor: "ns/a" });
      const t = wf.state("t", { initial: true });
      t.task("b", { executor: "ns/b" });
      s.transition(t);
      return wf;
    })(),
    path: "w",
    mentions: ['"s", "t"', "mark exactly one"],
  }),
  NO_STATES: () => ({ wf: workflow("w", { version: "1" }), path: "w", mentions: ['workflow "w"', 'w.state("name")'] }),
  EMPTY_STATE: () => ({
    wf: withState((wf, s) => {
      const done = wf.state("done");
      done.task("d", { executor: "ns/d" });
      s.transition(done);
    }),
    path: "w/s",
    mentions: ['state "s"', 's.task("name"', "make it a final state"],
  }),
  INVALID_EXECUTOR_KEY: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "etl.v2/extract" });
    }),
    path: "w/s/a",
    mentions: ['task "a"', '"etl.v2/extract"', 'use "namespace/name"'],
  }),
  EXECUTOR_NOT_REGISTERED: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "etl/extract" });
    }),
    options: { registry: registryWith("etl", "load") },
    path: "w/s/a",
    mentions: ['task "a"', '"etl/extract"', 'namespace "etl" has: etl/load', "register it or fix the key"],
  }),
  EXECUTOR_SCHEMA_MISMATCH: () => {
    const registry = createRegistry();
    registry.namespace("etl").register("extract", () => ({ count: 1 }), { output: z.object({ count: z.number() }) });
    return {
      wf: withState((_, s) => {
        s.task("a", { executor: "etl/extract", output: z.object({ rows: z.array(z.number()) }) });
      }),
      options: { registry },
      path: "w/s/a",
      mentions: ['task "a"', '"etl/extract"', "only the task declares rows", "only the executor declares count", "make them agree"],
    };
  },
  INVALID_RETRIES: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", retries: -1 });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "retries -1", "whole number from 0 to 1000"],
  }),
  INVALID_BACKOFF: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", backoff: { initialMs: 500, maxMs: 100 } });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "maxMs 100 is below initialMs 500", "leave backoff out"],
  }),
  INVALID_TIMEOUT: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", timeoutMs: 0 });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "timeoutMs 0", "leave it out for no limit"],
  }),
  INVALID_QUEUE_TIMEOUT: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", queueTimeoutMs: 1.5 });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "queueTimeoutMs 1.5", "whole number of milliseconds"],
  }),
  INVALID_CONCURRENCY: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", concurrency: 8 as never });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "concurrency 8", "{ limit: 8 }"],
  }),
  INVALID_RATE_LIMIT: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", rateLimit: "5/s" as never });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "rateLimit 5/s", "periodMs: 60_000"],
  }),
  INVALID_LIMIT: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", concurrency: { limit: 0 } });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "concurrency.limit 0", "whole number from 1"],
  }),
  INVALID_RATE_PERIOD: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", rateLimit: { limit: 5, periodMs: -1 } });
    }),
    path: "w/s/a",
    mentions: ['task "a"', "rateLimit.periodMs -1", "positive whole number of milliseconds"],
  }),
  INVALID_LIMIT_KEY: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", concurrency: { limit: 2, key: "tenant" as never } });
    }),
    path: "w/s/a",
    mentions: ['task "a"', 'concurrency.key "tenant"', "key: (input) => input.tenant"],
  }),
  INVALID_LIMIT_SCOPE: () => ({
    wf: withState((_, s) => {
      s.task("a", { executor: "ns/a", rateLimit: { limit: 2, periodMs: 1000, scope: "my api" } });
    }),
    path: "w/s/a",
    mentions: ['task "a"', 'rateLimit.scope "my api"', "share the limit by executor"],
  }),
  INVALID_MAX_VISITS: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1" });
      wf.state("s", { maxVisits: 0 }).task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w/s",
    mentions: ['state "s"', "maxVisits 0", "whole number >= 1"],
  }),
  INVALID_NAME: () => ({
    wf: withState((_, s) => {
      s.task("load data", { executor: "ns/a" });
    }),
    path: "w/s/load data",
    mentions: ['task name "load data"', 'rename it, e.g. "load-data"'],
  }),
  INVALID_RUN_CONCURRENCY: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", concurrency: 1 as never });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w",
    mentions: ['workflow "w"', "concurrency 1", "{ limit: 1"],
  }),
  INVALID_RUN_LIMIT: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", concurrency: { limit: 0 } });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w",
    mentions: ['workflow "w"', "concurrency.limit 0", "1 or more"],
  }),
  INVALID_RUN_LIMIT_KEY: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", concurrency: { limit: 1, key: "user" as never } });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w",
    mentions: ['workflow "w"', 'concurrency.key "user"', "give a function"],
  }),
  INVALID_ON_LIMIT: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", concurrency: { limit: 1, onLimit: "wait" as never } });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w",
    mentions: ['workflow "w"', 'concurrency.onLimit "wait"', '"queue", "cancel-in-progress" or "drop"'],
  }),
  INVALID_PRIORITY: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", priority: 0 });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w",
    mentions: ['workflow "w"', "priority 0", "1 (first) to 5 (last)"],
  }),
  INVALID_VERSION: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "" });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w",
    mentions: ['workflow "w"', '{ version: "1" }'],
  }),
  INVALID_SIGNAL_NAME: () => ({
    wf: withState((_, s) => {
      s.signal("verdict", { signal: "the verdict" });
    }),
    path: "w/s/verdict",
    mentions: ['signal node "verdict"', '"the verdict"', "rename it"],
  }),
  INVALID_SIGNAL_SCHEMA: () => ({
    wf: withState((_, s) => {
      s.signal("verdict", { schema: { ok: "boolean" } as never });
    }),
    path: "w/s/verdict",
    mentions: ['signal node "verdict"', "not a zod schema", "z.object"],
  }),
  INVALID_SIGNAL_TIMEOUT: () => ({
    wf: withState((_, s) => {
      s.signal("verdict", { timeoutMs: -5 });
    }),
    path: "w/s/verdict",
    mentions: ['signal node "verdict"', "timeoutMs -5", "leave it out to wait without limit"],
  }),
  INVALID_SIGNAL_ON_TIMEOUT: () => ({
    wf: withState((_, s) => {
      s.signal("verdict", { onTimeout: { output: { pathway: "expired" } } });
    }),
    path: "w/s/verdict",
    mentions: ['signal node "verdict"', "no timeoutMs", "add timeoutMs or drop onTimeout"],
  }),
  INVALID_SLEEP: () => ({
    wf: withState((_, s) => {
      s.sleep("pause", {});
    }),
    path: "w/s/pause",
    mentions: ['sleep node "pause"', "exactly one of { ms } or { until }", "neither"],
  }),
  INVALID_SLEEP_MS: () => ({
    wf: withState((_, s) => {
      s.sleep("pause", { ms: 1.5 });
    }),
    path: "w/s/pause",
    mentions: ['sleep node "pause"', "ms 1.5", "whole number of milliseconds"],
  }),
  SLEEP_UNTIL_NOT_FUNCTION: () => ({
    wf: withState((_, s) => {
      s.sleep("pause", { until: new Date(0) as never });
    }),
    path: "w/s/pause",
    mentions: ['sleep node "pause"', "not a function", "(input) => new Date"],
  }),
  INVALID_PARAMS: () => ({
    wf: withState((_, s) => void s.task("a", { executor: "ns/a", params: { when: new Date(0) } })),
    path: "w/s/a",
    mentions: ['task "a" in state "s"', "not plain JSON", "plain objects"],
  }),
  MAP_ITEMS_NOT_FUNCTION: () => ({
    wf: withState((_, s) => void s.map("run", { executor: "ns/run", items: [1, 2] as unknown as () => number[] })),
    path: "w/s/run",
    mentions: ['map "run" in state "s"', "items of type object", "items: (input) => input.cells"],
  }),
  INVALID_MAX_CONCURRENCY: () => ({
    wf: withState((_, s) => void s.map("run", { executor: "ns/run", items: () => [1], maxConcurrency: 0 })),
    path: "w/s/run",
    mentions: ['map "run"', "maxConcurrency 0", "whole number from 1"],
  }),
  INVALID_TOLERATED_FAILURES: () => ({
    wf: withState((_, s) => void s.map("run", { executor: "ns/run", items: () => [1], toleratedFailures: 1.5 })),
    path: "w/s/run",
    mentions: ['map "run"', "toleratedFailures 1.5", "fraction of the items below 1"],
  }),
  MAP_AS_ROUTER: () => {
    const wf = workflow("w", { version: "1" });
    const s = wf.state<string>("s");
    const done = wf.state("done", { final: true });
    const run = s.map("run", { executor: "ns/run", items: () => [1] });
    s.route(run, { ok: done });
    return { wf, path: "w/s/run", mentions: ['routes by map "run"', "route by a task that follows the map"] };
  },
  INVALID_SCHEDULE: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", schedules: [{ every: "1h" }, { cron: "61 * * * *" }] });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w/schedules[1]",
    mentions: ['schedule 1 of workflow "w"', '"61 * * * *"', "minute"],
  }),
  SCHEDULE_INPUT_INVALID: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", input: z.object({ day: z.string() }), schedules: [{ name: "nightly", cron: "0 2 * * *", input: { day: 3 as unknown as string } }] });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w/schedules[0]",
    mentions: ['schedule "nightly"', "day:", "fix its input"],
  }),
  INVALID_SOURCE: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", sources: [{ every: "soon", executor: "ns/list" }] });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w/sources[0]",
    mentions: ['source "src0"', '"soon" is not a period', '"15m"'],
  }),
  SOURCE_EXECUTOR_NOT_REGISTERED: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", sources: [{ every: "60s", executor: "ns/list" }] });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    options: { registry: registryWith("ns", "a") },
    path: "w/sources[0]",
    mentions: ['source "src0"', '"ns/list"', "register it"],
  }),
  DUPLICATE_TRIGGER_NAME: () => ({
    wf: (() => {
      const wf = workflow("w", { version: "1", schedules: [{ name: "tick", every: "1h" }], sources: [{ name: "tick", every: "60s", executor: "ns/list" }] });
      wf.state("s").task("a", { executor: "ns/a" });
      return wf;
    })(),
    path: "w/sources[0]",
    mentions: ['named "tick"', "unique name"],
  }),
  UNKNOWN_OPTION: () => ({
    // Options built away from the call (or in JavaScript) escape TypeScript's excess-property check.
    wf: withState((_, s) => {
      const options = { executor: "ns/a", retry: 3 } as { executor: "ns/a" };
      s.task("a", options);
    }),
    path: "w/s/a",
    mentions: ['task "a" in state "s"', 'unknown option "retry"', 'did you mean "retries"?'],
  }),
  CHILD_WORKFLOW_INVALID: () => ({
    wf: withState((_, s) => void s.child("sub", { workflow: "has space" })),
    path: "w/s/sub",
    mentions: ['child node "sub"', '"has space"', "handle or its name"],
  }),
  CHILD_VERSION_MISMATCH: () => {
    const sub = workflow("sub", { version: "2" });
    sub.state("only").task("a", { executor: "ns/a" });
    return { wf: withState((_, s) => void s.child("call", { workflow: sub, version: "1" })), path: "w/s/call", mentions: ['version "1"', 'handle of version "2"'] };
  },
  CHILD_VERSION_INVALID: () => ({
    wf: withState((_, s) => void s.child("sub", { workflow: "sub", version: "" })),
    path: "w/s/sub",
    mentions: ['child node "sub"', "non-empty string"],
  }),
  CHILD_INPUT_NOT_FUNCTION: () => ({
    wf: withState((_, s) => void s.child("sub", { workflow: "sub", input: { id: 1 } as never })),
    path: "w/s/sub",
    mentions: ['child node "sub"', "input of type object", "(i) => ({ id: i.id })"],
  }),
};

describe("compiler - unknown options", () => {
  test("compiler - names the probable option of misspelt keys on tasks, maps, signals, sleeps, states and workflows", () => {
    const wf = workflow("w", { version: "1", ...({ descripton: "x" } as object) });
    const s = wf.state("s", { maxVisit: 3 } as object);
    const a = s.task("a", { executor: "ns/a", timeout: 500 } as { executor: "ns/a" });
    const m = s.map("m", { executor: "ns/m", items: () => [], parallelism: 4 } as { executor: "ns/m"; items: () => [] });
    const g = s.signal("g", { timeout: 1000 } as object);
    const z2 = s.sleep("z", { ms: 10, delayMs: 5 } as { ms: number });
    a.then(m).then(g).then(z2);
    const byKey = Object.fromEntries(issuesOf(wf).filter((i) => i.code === "UNKNOWN_OPTION").map((i) => [i.path, i.message]));
    expect(byKey).toEqual({
      w: expect.stringContaining('unknown option "descripton", which would be ignored; did you mean "description"?'),
      "w/s": expect.stringContaining('unknown option "maxVisit", which would be ignored; did you mean "maxVisits"?'),
      "w/s/a": expect.stringContaining('did you mean "timeoutMs"?'),
      "w/s/m": expect.stringContaining('did you mean "maxConcurrency"?'),
      "w/s/g": expect.stringContaining('signal node "g" in state "s" has unknown option "timeout", which would be ignored; did you mean "timeoutMs"?'),
      "w/s/z": expect.stringContaining('sleep node "z" in state "s" has unknown option "delayMs"'),
    });
  });
});

describe("compiler - validation issues", () => {
  test("compiler - has a case for every validation code", () => {
    expect(Object.keys(cases).sort()).toEqual([...VALIDATION_CODES].sort());
  });

  test.each(VALIDATION_CODES.map((code) => [code]))("compiler - reports %s with its path and a message naming the fix", (code) => {
    const c = cases[code]();
    const issues = issuesOf(c.wf, c.options);
    expect(issues.map((i) => ({ code: i.code, path: i.path }))).toEqual([{ code, path: c.path }]);
    for (const fragment of c.mentions) expect(issues[0]!.message).toContain(fragment);
  });
});
