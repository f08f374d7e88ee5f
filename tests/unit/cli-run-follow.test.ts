// The follow loop of `phaseflow run` on an embedded run, with the interrupts (Ctrl-C)
// injected: the first cancels the run and keeps following to its end, a second one
// stops waiting at once.
import { describe, expect, it } from "vitest";
import { startEmbeddedRun } from "../../src/cli/run-embedded.js";
import { CANCEL_REASON, followRun, type InterruptSource, type RunObserver } from "../../src/cli/run-follow.js";
import { createSilentLogger } from "../../src/support/logger.js";
import type { RunUpdate } from "../../src/transport/messages.js";
import { registry } from "../fixtures/run/executors.js";
import { greet, slow } from "../fixtures/run/workflows.js";

function interrupter(): { source: InterruptSource; fire: () => void; listening: () => boolean } {
  let handler: (() => void) | undefined;
  return {
    source: (onInterrupt) => {
      handler = onInterrupt;
      return () => (handler = undefined);
    },
    fire: () => handler?.(),
    listening: () => handler !== undefined,
  };
}

function observer(onEvent: (e: RunUpdate) => void = () => undefined): RunObserver & { types: string[]; notices: string[] } {
  const types: string[] = [];
  const notices: string[] = [];
  return { types, notices, event: (_r, e) => (types.push(e.type), onEvent(e)), notice: (t) => notices.push(t) };
}

const logger = createSilentLogger();

describe("cli run follow - embedded", () => {
  it("cli run follow - follows a run to its end and returns the engine's final record", async () => {
    const session = await startEmbeddedRun({ workflow: greet, registry, input: { user: { name: "Bo" } }, options: {}, logger });
    const seen = observer();
    const int = interrupter();
    try {
      const outcome = await followRun(session, seen, int.source);
      expect(outcome).toMatchObject({ interrupted: false, abandoned: false, record: { status: "succeeded", output: { greeting: "HELLO BO!!" } } });
      expect(seen.types[0]).toBe("run.started");
      expect(seen.types.at(-1)).toBe("run.succeeded");
      expect(int.listening()).toBe(false);
    } finally {
      await session.close();
    }
  });

  it("cli run follow - an interrupt cancels the run and the loop follows it until it is cancelled", async () => {
    const int = interrupter();
    const session = await startEmbeddedRun({ workflow: slow, registry, input: undefined, options: {}, logger });
    const seen = observer((e) => {
      if (e.type === "task.dispatched") int.fire();
    });
    try {
      const outcome = await followRun(session, seen, int.source);
      expect(outcome).toMatchObject({ interrupted: true, abandoned: false, record: { status: "cancelled", reason: CANCEL_REASON } });
      expect(outcome.record.tasks[0]).toMatchObject({ task: "forever", status: "cancelled" });
      expect(seen.notices).toEqual([`cancelling run ${session.runId} (press Ctrl-C again to stop waiting)`]);
      expect(seen.types.at(-1)).toBe("run.cancelled");
    } finally {
      await session.close();
    }
  });

  it("cli run follow - a second interrupt stops waiting and returns the record as far as it was seen", async () => {
    const int = interrupter();
    const session = await startEmbeddedRun({ workflow: slow, registry, input: undefined, options: {}, logger });
    // The cancel never lands: this session ignores it, as an unreachable coordinator would.
    const stuck = { ...session, cancel: () => new Promise<void>(() => undefined) };
    const seen = observer((e) => {
      if (e.type === "task.dispatched") {
        int.fire();
        int.fire();
      }
    });
    try {
      const outcome = await followRun(stuck, seen, int.source);
      expect(outcome).toMatchObject({ interrupted: true, abandoned: true, record: { status: "running" } });
      // Only stored history is followed (progress is a live signal): the task is as dispatched.
      expect(outcome.record.tasks[0]).toMatchObject({ task: "forever", status: "dispatched" });
    } finally {
      await session.close();
    }
  });
});
