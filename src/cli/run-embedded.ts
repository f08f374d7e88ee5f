/**
 * `phaseflow run` without `--nats`: the engine runs in this process (memory
 * transport, in-process worker serving the merged registries, coordinator), and the
 * run is exposed as a `RunSession` for the follow loop.
 */
import type { Workflow } from "../dsl/workflow.js";
import type { Registry } from "../registry/registry.js";
import type { Logger } from "../registry/types.js";
import { createEngine } from "../embedded/engine.js";
import type { RunOptions } from "../support/run-options.js";
import type { StoredMessage } from "../transport/messages.js";
import { createMemoryTransport } from "../transport/memory/index.js";
import type { RunSession } from "./run-follow.js";

/** An embedded run, whose stored history can be read until `close()` (for `--export`). */
export interface EmbeddedRunSession extends RunSession {
  history(): Promise<StoredMessage[]>;
}

export interface EmbeddedRunOptions {
  workflow: Workflow<unknown>;
  registry: Registry;
  /** Already checked against the workflow's input schema. */
  input: unknown;
  options: Pick<RunOptions, "schedule" | "onFailure" | "seed" | "key">;
  /** Gets the engine's own lines and the executors' `ctx.log`. */
  logger: Logger;
}

/**
 * Start an embedded run.
 * @throws WorkflowValidationError (the workflow does not compile against the registry), InputValidationError
 * @example const session = await startEmbeddedRun({ workflow, registry, input, options: {}, logger });
 */
export async function startEmbeddedRun(o: EmbeddedRunOptions): Promise<EmbeddedRunSession> {
  // Our own transport (the engine leaves a given one open), so the history outlives the run.
  const transport = createMemoryTransport();
  const engine = createEngine({ registry: o.registry, logger: o.logger, transport, worker: true });
  const close = async (): Promise<void> => {
    try {
      await engine.close();
    } finally {
      await transport.close();
    }
  };
  try {
    const handle = await engine.run(o.workflow, o.input, o.options);
    return {
      runId: handle.runId,
      onInterrupt: "cancel",
      events: () => handle.updates(),
      cancel: (reason) => handle.cancel(reason),
      result: () => handle.result(),
      history: async () => (await transport.readHistory(handle.runId)).messages,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
