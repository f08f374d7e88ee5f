// One coordinator service, one NATS worker and a client in the test's own process, on the
// suite's nats-server (its own prefix), started before the file's tests and stopped after
// them. For tests that need a fleet's queueing but no process to kill.
import { afterAll, beforeAll, inject } from "vitest";
import type { Workflow } from "../../src/dsl/workflow.js";
import { createClient, type Client } from "../../src/fleet/client.js";
import { startCoordinatorService, type CoordinatorService } from "../../src/fleet/coordinator-service.js";
import { startNatsWorker, type NatsWorker } from "../../src/fleet/worker-service.js";
import type { Registry } from "../../src/registry/registry.js";

export interface InProcessFleetOptions {
  prefix: string;
  workflows: readonly Workflow<unknown>[];
  registry: Registry;
  workerId: string;
  /** The worker's slots. */
  concurrency: number;
  /** Called first on the way down, e.g. to release executors still held. */
  beforeClose?: () => void;
}

export interface InProcessFleet {
  /** Set once the fleet is up (in the file's beforeAll). */
  readonly client: Client;
}

export function useInProcessFleet(o: InProcessFleetOptions): InProcessFleet {
  let service: CoordinatorService | undefined;
  let worker: NatsWorker | undefined;
  let client: Client | undefined;
  beforeAll(async () => {
    const nats = { servers: inject("natsUrl"), prefix: o.prefix };
    service = await startCoordinatorService({ nats, workflows: o.workflows });
    worker = await startNatsWorker({ nats, registry: o.registry, workerId: o.workerId, concurrency: o.concurrency });
    client = await createClient(nats);
  }, 60_000);
  afterAll(async () => {
    o.beforeClose?.();
    await client?.close();
    await worker?.stop({ graceful: false });
    await service?.close();
  }, 60_000);
  return {
    get client(): Client {
      if (!client) throw new Error("the in-process fleet is not up yet (use it inside a test)");
      return client;
    },
  };
}
