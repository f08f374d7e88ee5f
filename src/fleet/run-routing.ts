/**
 * Requests about one run that need its plan — a signal (checked against the run's own
 * signal schemas), a retry or `retry --from` (re-run on the run's own plan) — reach a
 * coordinator serving the plan the run is pinned to (README "Deploying new versions"), as starts do
 * (start-routing.ts): answered here when this coordinator serves it, else forwarded to
 * `<op>.wf.<workflow>.v.<version>`, where only coordinators serving that version listen.
 * A forwarded request is answered where it lands, never forwarded again.
 *
 * The run's plan comes from its KV summary (one read); a run with none (pruned, or not
 * written by this version) is answered here, where its history decides.
 */
import { UsageError } from "../errors/base.js";
import { versionLabel, type WorkflowCatalog } from "../embedded/workflow-catalog.js";
import type { RunStore } from "./run-store.js";
import type { ForwardOutcome } from "./start-routing.js";

export interface RunRouterDeps {
  served: WorkflowCatalog;
  store: RunStore;
  /** The routed operation: `<op>.wf.<workflow>.v.<version>` (transport/api-route.ts). */
  op(op: string, workflow: string, version: string): string;
  /** The wire address of an operation, for messages. */
  subject(op: string): string;
  forward(op: string, body: unknown): Promise<ForwardOutcome>;
}

export interface RunRouter {
  /** Answer `req` here when this coordinator serves the run's plan, else forward it to one that does. */
  route<R extends { runId: string }>(op: string, req: R, here: (req: R) => Promise<object>): Promise<object>;
}

export function createRunRouter(deps: RunRouterDeps): RunRouter {
  return {
    async route(op, req, here) {
      const stored = (await deps.store.get(req.runId))?.value;
      if (!stored || stored.workflow === "" || deps.served.byPlan(stored.planHash) !== undefined) return here(req);
      const to = deps.op(op, stored.workflow, stored.version);
      const outcome = await deps.forward(to, req);
      if (outcome.kind === "reply") return outcome.body;
      throw new UsageError(
        `run "${req.runId}" is pinned to ${versionLabel(stored.workflow, stored.version)} (plan ${stored.planHash.slice(0, 12)}), and no live coordinator serves it (nobody listens on ${deps.subject(to)}); start a coordinator with that version's module (same --prefix), or upgrade the run`,
      );
    },
  };
}
