/**
 * vitest global setup: ONE nats-server (JetStream, random free port, temp store)
 * for the whole test run, shared with test files as `inject("natsUrl")`. Each test
 * file that uses it picks its own subject prefix, so files never see each other's
 * streams, tasks or events. Tests that must restart or kill a server start their
 * own with `startNatsServer()`.
 *
 * A missing nats-server fails the run with install instructions; it never skips.
 */
import type { TestProject } from "vitest/node";
// Brings "vitest" into scope so the augmentation below resolves (erased at runtime).
import type {} from "vitest";
import { startNatsServer } from "./nats-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** `nats://127.0.0.1:<port>` of the run's shared nats-server. */
    natsUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startNatsServer();
  project.provide("natsUrl", server.url);
  return async () => {
    await server.stop();
  };
}
