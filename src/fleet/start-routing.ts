/**
 * Which coordinator answers a start (or a plan request) of a workflow version
 * (README "Deploying new versions"). Requests go to `<p>.api.<op>.wf.<workflow>[.v.<version>]`, subscribed
 * (queue group) only by coordinators serving that workflow (and version), so a
 * coordinator never refuses a start for a workflow another one serves. The unrouted
 * `<p>.api.<op>` subject is still answered, by forwarding when needed.
 *
 * Without a version, a start gets the latest version served anywhere in the fleet (from
 * the coordinators' heartbeats, coordinator-heartbeat.ts): a coordinator whose own latest
 * is older — mid rolling deploy — forwards to the versioned subject, where only a
 * coordinator serving that version listens. A forwarded request always names its
 * version, so it is never forwarded twice.
 */
import { UsageError } from "../errors/base.js";
import { versionLabel, type WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { latestVersion } from "../plan/versions.js";

/** What a forwarded request got: the other coordinator's reply as it came, or nobody listening. */
export type ForwardOutcome = { kind: "reply"; body: object } | { kind: "no-responders" };
import type { CoordinatorHeartbeat } from "./coordinator-heartbeat.js";

export interface StartRouter {
  /**
   * Answer `req` here when this coordinator serves the version it gets, else forward it.
   * `here` receives the request with its version resolved.
   */
  route<R extends { workflow: string; version?: string | undefined }>(op: string, req: R, here: (req: R & { version: string }) => Promise<object>): Promise<object>;
}

export interface StartRouterDeps {
  served: WorkflowCatalog;
  /** The live coordinators as last seen (this one included). */
  fleet(): readonly CoordinatorHeartbeat[];
  /** The routed operation: `<op>.wf.<workflow>[.v.<version>]` (transport/api-route.ts). */
  op(op: string, workflow: string, version?: string): string;
  /** The wire address of an operation, for messages. */
  subject(op: string): string;
  /** Send a request to `op` and hand back its reply. */
  forward(op: string, body: unknown): Promise<ForwardOutcome>;
}

/** The versions of `workflow` served in the fleet (this coordinator's own included). */
export function fleetVersions(served: WorkflowCatalog, fleet: readonly CoordinatorHeartbeat[], workflow: string): string[] {
  return [...new Set([...served.versionsOf(workflow), ...fleet.flatMap((c) => c.served.filter((s) => s.workflow === workflow).map((s) => s.version))])];
}

export function createStartRouter(deps: StartRouterDeps): StartRouter {
  const { served } = deps;
  const forwarded = async (op: string, body: unknown, what: string): Promise<object> => {
    const outcome = await deps.forward(op, body);
    if (outcome.kind === "reply") return outcome.body;
    throw new UsageError(`no live coordinator serves ${what} (nobody listens on ${deps.subject(op)}); start one with its module (same --prefix)`);
  };
  return {
    async route(op, req, here) {
      const { workflow } = req;
      if (req.version !== undefined) {
        if (served.has(workflow, req.version)) return here({ ...req, version: req.version });
        return forwarded(deps.op(op, workflow, req.version), req, versionLabel(workflow, req.version));
      }
      const latest = latestVersion(fleetVersions(served, deps.fleet(), workflow));
      if (latest === undefined) {
        // No beat names it (yet): coordinators serving the name, if any, decide.
        return forwarded(deps.op(op, workflow), req, `workflow "${workflow}"`);
      }
      if (served.has(workflow, latest)) return here({ ...req, version: latest });
      return forwarded(deps.op(op, workflow, latest), { ...req, version: latest }, versionLabel(workflow, latest));
    },
  };
}
