/**
 * `phaseflow run --nats URL`: submit the run to a coordinator with the fleet client and
 * follow its events from the durable history. The workflow file is still loaded
 * locally, for its name and to check the input before submitting. When no live
 * worker serves some of the workflow's executors yet, the coordinator says so and
 * the run waits for them; that is reported as a notice naming the executors.
 */
import { createClient } from "../fleet/client.js";
import type { StartRunRequest } from "../fleet/api-schemas.js";
import type { Logger } from "../registry/types.js";
import type { RunSession } from "./run-follow.js";
import type { natsOptionsFrom } from "./nats-flags.js";

export interface NatsRunOptions {
  nats: ReturnType<typeof natsOptionsFrom>;
  /** The workflow's name, as the coordinator knows it. */
  workflow: string;
  input: unknown;
  options: NonNullable<StartRunRequest["options"]>;
  logger: Logger;
}

export interface NatsRunSession extends RunSession {
  /** Executors no live worker served when the run was submitted. */
  readonly waitingFor: readonly string[];
}

/**
 * Submit a run and return its session (the client stays connected until `close()`).
 * @throws ApiRequestError (`NO_COORDINATOR`, ...), TransportConnectError, or the coordinator's own error (e.g. INPUT_INVALID)
 * @example const session = await startNatsRun({ nats: natsOptionsFrom(values), workflow: "etl", input, options: {}, logger });
 */
export async function startNatsRun(o: NatsRunOptions): Promise<NatsRunSession> {
  const client = await createClient({ ...o.nats, logger: o.logger });
  try {
    const started = await client.start(o.workflow, o.input, o.options);
    return {
      runId: started.runId,
      waitingFor: started.waitingFor,
      events: () => client.follow(started.runId),
      async cancel(reason) {
        await client.cancel(started.runId, reason);
      },
      // The record folded from the full history is the record the coordinator keeps.
      result: (folded) => Promise.resolve(folded),
      close: () => client.close(),
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}

/** The notice for a run that waits for workers. */
export function describeWaiting(runId: string, waitingFor: readonly string[], servers: string, prefix?: string): string {
  const flags = `--nats ${servers}${prefix !== undefined ? ` --prefix ${prefix}` : ""}`;
  return `run ${runId} waits for workers: no live worker serves ${waitingFor.map((k) => `"${k}"`).join(", ")} yet; start one with "phaseflow worker ${flags} <executor modules>"`;
}
