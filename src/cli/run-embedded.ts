/**
 * `phaseflow run` without `--nats`: the engine runs in this process (memory
 * transport, in-process worker serving the merged registries, coordinator), and the
 * run is exposed as a `RunSession` for the follow loop.
 */
import type { Workflow } from "../dsl/workflow.js";
import type { Registry } from "../registry/registry.js";
import type { Logger } from "../registry/types.js";
import { createEngine } from "../runtime/engine.js";
import type { RunOptions } from "../runtime/run-options.js";
import type { RunSession } from "./run-follow.js";

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
export async function startEmbeddedRun(o: EmbeddedRunOptions): Promise<RunSession> {
  const engine = createEngine({ registry: o.registry, logger: o.logger });
  try {
    const handle = await engine.run(o.workflow, o.input, o.options);
    return {
      runId: handle.runId,
      onInterrupt: "cancel",
      events: () => handle.updates(),
      cancel: (reason) => handle.cancel(reason),
      result: () => handle.result(),
      close: () => engine.close(),
    };
  } catch (err) {
    await engine.close();
    throw err;
  }
}
