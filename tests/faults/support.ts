// Shared pieces of the fault-injection tests: the runner-free ones (execution log, accepted
// verdicts, the fleet of real processes) live in ./fleet.ts and are re-exported here; this
// file adds what needs the test runner: the "exactly one accepted success per task" assertion
// and `useFleet`, a fleet per describe block on the run's shared nats-server.
import { afterAll, beforeAll, expect, inject } from "vitest";
import type { RunEvent } from "../../src/transport/messages.js";
import type { RunRecord } from "../../src/runtime/core/run-record-schema.js";
import { acceptedSuccesses, Fleet, newExecutionLog, taskKey, type FleetSpec } from "./fleet.js";

export * from "./fleet.js";

/**
 * Asserts every task of every state visit of the run has exactly one accepted success
 * (and the record folded from the history agrees that they all succeeded).
 */
export function expectOneSucceededPerTask(events: readonly RunEvent[], record: RunRecord): void {
  const counts = acceptedSuccesses(events);
  // A map node is dispatched to no worker: its instances are, and it succeeds once they all did.
  const expected = record.tasks.filter((t) => !t.instances).map(taskKey).sort();
  expect([...counts.keys()].sort()).toEqual(expected);
  for (const [key, n] of counts) expect(n, `accepted successes of ${key}`).toBe(1);
  for (const t of record.tasks) expect(t.status, taskKey(t)).toBe("succeeded");
}

/** Flags of one coordinator, passed as given. */
/**
 * The fleet of one describe block on the run's shared nats-server: started (all at once) before
 * its tests, stopped after them. Its prefix keeps it apart from every other fleet.
 *
 * @example
 * const fleet = useFleet("fpoison", { coordinators: [COORDINATOR], workers: ["w1", "w2"] });
 */
export function useFleet(prefix: string, spec: FleetSpec = {}): Fleet {
  const fleet = new Fleet(inject("natsUrl"), prefix, newExecutionLog());
  beforeAll(() => fleet.start(spec), 120_000);
  afterAll(() => fleet.close(), 60_000);
  return fleet;
}

