/**
 * The web view's backend for a fleet: the client API the CLI uses (run list from the
 * summaries in `<p>_runs`, records, plans, cancel, retry), a run's history and live
 * signals through the transport port, and the workers' heartbeats.
 */
import type { Client } from "../fleet/client.js";
import { cursorOf } from "../fleet/run-list-order.js";
import type { Logger } from "../registry/types.js";
import type { Plan } from "../plan/schema.js";
import type { UiBackend } from "./backend.js";
import { followRunUpdates } from "./follow.js";

/** How long a plan fetched from a coordinator is reused. */
const PLAN_CACHE_MS = 30_000;

/**
 * A backend over a connected client (closed with the backend).
 * @example const backend = createFleetBackend(await createClient({ servers: url }), logger);
 */
export function createFleetBackend(client: Client, logger: Logger): UiBackend {
  const { transport } = client;
  const plans = new Map<string, { plan: Plan | undefined; at: number }>();

  return {
    mode: "fleet",
    async listRuns({ limit, workflow, status, parent, before }) {
      // One more than asked says whether there is a next page.
      const runs = await client.list({ limit: limit + 1, ...(workflow !== undefined ? { workflow } : {}), ...(status !== undefined ? { status } : {}), ...(parent !== undefined ? { parent } : {}), ...(before ? { before } : {}) });
      const page = runs.slice(0, limit);
      const last = page[page.length - 1];
      return runs.length > limit && last ? { runs: page, next: cursorOf(last) } : { runs: page };
    },
    getRun: (runId) => client.get(runId),
    inspectRun: (runId) => client.inspect(runId),
    async planOf({ workflow, planHash, version }) {
      const key = `${workflow}@${planHash}`;
      const cached = plans.get(key);
      if (cached && Date.now() - cached.at < PLAN_CACHE_MS) return cached.plan;
      let plan: Plan | undefined;
      try {
        // The run's own version: a run pinned to v1 is drawn with v1's plan while v2 is the latest.
        const served = await client.plan(workflow, version === "" ? undefined : version);
        plan = served.planHash === planHash ? served : undefined;
      } catch (err) {
        // The page still shows the run's recorded tasks without the plan.
        logger.debug({ err, workflow }, "no coordinator serves the plan of this run");
      }
      plans.set(key, { plan, at: Date.now() });
      return plan;
    },
    follow: (runId, onUpdate) => followRunUpdates(transport, runId, onUpdate),
    cancel: (runId, reason) => client.cancel(runId, reason),
    async retry(runId, from) {
      await client.retry(runId, from);
    },
    workers: () => client.workers(),
    queues: () => client.queues(),
    close: () => client.close(),
  };
}
