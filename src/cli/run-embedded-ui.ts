/**
 * `phaseflow run <file> --ui`: an embedded run with the web view. The engine runs on a
 * memory transport this module owns, so the web view follows the run's history and
 * live signals exactly as it does a fleet's; cancel and retry go to the engine.
 */
import { createEngine } from "../embedded/engine.js";
import { DEFAULT_ENGINE_CONCURRENCY } from "../embedded/engine.js";
import { createMemoryTransport } from "../transport/memory/index.js";
import { createEmbeddedBackend } from "../ui/embedded-backend.js";
import { startUiServer, type UiServer } from "../ui/server.js";
import type { UiServerOptions } from "../ui/ui-options.js";
import type { EmbeddedRunOptions } from "./run-embedded.js";
import type { RunSession } from "./run-follow.js";

export interface EmbeddedUiRun {
  session: RunSession;
  ui: UiServer;
  /** The run's status now (after a retry from the page, the retried run's). */
  status(): string;
}

/**
 * Start the web view, then the run.
 * @example const { session, ui } = await startEmbeddedRunWithUi({ ...runOptions, server: { port: 8080 } });
 */
export async function startEmbeddedRunWithUi(o: EmbeddedRunOptions & { server: UiServerOptions }): Promise<EmbeddedUiRun> {
  const transport = createMemoryTransport();
  const engine = createEngine({ registry: o.registry, logger: o.logger, transport, worker: true });
  const closeAll = async (): Promise<void> => {
    await engine.close();
    await transport.close();
  };
  const backend = createEmbeddedBackend({ engine, transport, workflow: o.workflow, registry: o.registry, concurrency: DEFAULT_ENGINE_CONCURRENCY });
  let ui: UiServer;
  try {
    ui = await startUiServer({ ...o.server, backend, logger: o.logger });
  } catch (err) {
    await closeAll();
    throw err;
  }
  try {
    const handle = await engine.run(o.workflow, o.input, o.options);
    backend.track(handle.runId);
    return {
      ui,
      status: () => engine.get(handle.runId)?.status ?? "unknown",
      session: {
        runId: handle.runId,
        onInterrupt: "cancel",
        events: () => handle.updates(),
        cancel: (reason) => handle.cancel(reason),
        result: () => handle.result(),
        async close() {
          await ui.close();
          await closeAll();
        },
      },
    };
  } catch (err) {
    await ui.close();
    await closeAll();
    throw err;
  }
}
