/**
 * `<p>.api.run.upgrade` (`client.upgrade`, `phaseflow upgrade`): move a running fleet run
 * onto another version of its workflow (README "Deploying new versions"). It is answered by a coordinator
 * serving the target version (others forward it to `run.upgrade.wf.<name>.v.<version>`),
 * and the move is made by the run's holder, the only writer of its history:
 * - held here: the engine checks and moves it (`engine.upgrade`), and the run's summary
 *   names its new plan before the reply, so takeovers after a crash look for it;
 * - held by another live coordinator: forwarded to it by name, which moves it if it
 *   serves the target version too (a coordinator serving only the old version cannot
 *   drive the new plan: finish the rolling deploy first);
 * - held by none (its coordinator died; the run waits): taken over here first, when
 *   this coordinator serves the run's current plan.
 * A dry run is answered where it lands: the run's stored history, folded, against the
 * target plan. An incompatible upgrade is an ok reply with `upgraded: false` and every
 * issue, so the issues travel as data; the client raises UpgradeRefusedError from it.
 */
import type { z } from "zod";
import type { Engine } from "../embedded/engine.js";
import { versionLabel, type WorkflowCatalog } from "../embedded/workflow-catalog.js";
import { RunNotFoundError, UsageError } from "../errors/base.js";
import { UpgradeRefusedError } from "../errors/upgrade.js";
import { historyEvents } from "../runtime/core/history.js";
import { isRunFinished } from "../runtime/core/run-record.js";
import { createRunState, foldEvents } from "../runtime/core/run-state.js";
import { upgradeReportOf, type UpgradeReport } from "../runtime/core/upgrade.js";
import type { Transport } from "../transport/port.js";
import type { upgradeRunRequestSchema } from "./api-schemas.js";
import type { CoordinatorHeartbeat } from "./coordinator-heartbeat.js";
import type { RunDriver } from "./run-driver.js";
import type { StoredRun } from "./run-store.js";
import { fleetVersions, type ForwardOutcome } from "./start-routing.js";

type Request = z.infer<typeof upgradeRunRequestSchema>;

export interface UpgradeEndpointDeps {
  id: string;
  served: WorkflowCatalog;
  driver: RunDriver;
  engine: Engine;
  transport: Transport;
  fleet(): readonly CoordinatorHeartbeat[];
  /** `run.upgrade.wf.<workflow>.v.<version>` */
  routed(workflow: string, version: string): string;
  subject(op: string): string;
  forward(op: string, body: unknown): Promise<ForwardOutcome>;
  now(): number;
}

export interface UpgradeEndpoint {
  /** The client-facing request (queue group, or its routed subject when `routed`). */
  answer(req: Request, routed: boolean): Promise<object>;
  /** A request forwarded to this coordinator as the run's holder. */
  asHolder(req: Request): Promise<object>;
}

export function createUpgradeEndpoint(d: UpgradeEndpointDeps): UpgradeEndpoint {
  const noCoordinator = (workflow: string, version: string): UsageError => {
    const versions = fleetVersions(d.served, d.fleet(), workflow);
    return new UsageError(`no live coordinator serves ${versionLabel(workflow, version)} (served versions of "${workflow}": ${versions.join(", ") || "none"}); start a coordinator with that version's module (same --prefix), then upgrade`);
  };

  /** Move (or check) a run held here, with a report either way. */
  const here = async (req: Request): Promise<object> => {
    const handle = d.driver.handle(req.runId)!;
    const before = handle.status();
    try {
      const report = await d.engine.upgrade(req.runId, { toVersion: req.toVersion, dryRun: req.dryRun === true });
      // The summary names the new plan before we answer: a takeover after a crash looks for it.
      if (report.upgraded) await d.driver.store.save(handle.summary());
      return { ok: true, report };
    } catch (err) {
      if (!(err instanceof UpgradeRefusedError)) throw err;
      const target = d.served.find(before.workflow, req.toVersion)!;
      const report: UpgradeReport = { ...upgradeReportOf(before, target.plan, d.served.byPlan(before.planHash)?.plan, false), issues: [...err.issues] };
      return { ok: true, report };
    }
  };

  const dryRun = async (req: Request): Promise<object> => {
    const { messages } = await d.transport.readHistory(req.runId);
    if (messages.length === 0) throw new RunNotFoundError(req.runId);
    const record = foldEvents(createRunState(req.runId), historyEvents(messages)).record;
    if (isRunFinished(record)) throw new UsageError(`run "${req.runId}" has ended (${record.status}); only a running run can be upgraded`);
    const target = d.served.find(record.workflow, req.toVersion);
    if (!target) throw noCoordinator(record.workflow, req.toVersion);
    if (target.plan.planHash === record.planHash) throw new UsageError(`run "${req.runId}" is on ${versionLabel(record.workflow, record.version)} (plan ${record.planHash.slice(0, 12)}) already`);
    return { ok: true, report: upgradeReportOf(record, target.plan, d.served.byPlan(record.planHash)?.plan, true) };
  };

  /** A run accepted here that has not started: queued for its workflow's limit (onLimit "queue"), or waiting for workers. */
  const notStarted = async (stored: StoredRun): Promise<UsageError> => {
    const queued = await d.driver.queuedFor(stored);
    const why = queued !== undefined ? `it is ${queued}` : "it waits for workers";
    return new UsageError(`run "${stored.runId}" has not started yet (${why}); upgrade it once it runs, or start the version you want`);
  };

  return {
    async answer(req, routed) {
      const stored = (await d.driver.store.get(req.runId))?.value;
      let workflow = stored?.workflow;
      if (!stored) {
        const { messages } = await d.transport.readHistory(req.runId);
        if (messages.length === 0) throw new RunNotFoundError(req.runId);
        workflow = foldEvents(createRunState(req.runId), historyEvents(messages)).record.workflow;
      } else if (isRunFinished(stored)) {
        throw new UsageError(`run "${req.runId}" has ended (${stored.status}); only a running run can be upgraded`);
      }
      if (!d.served.has(workflow!, req.toVersion)) {
        if (routed || !fleetVersions(d.served, d.fleet(), workflow!).includes(req.toVersion)) throw noCoordinator(workflow!, req.toVersion);
        const outcome = await d.forward(d.routed(workflow!, req.toVersion), req);
        if (outcome.kind === "reply") return outcome.body;
        throw noCoordinator(workflow!, req.toVersion);
      }
      if (d.driver.handle(req.runId)) return here(req);
      if (req.dryRun === true) return dryRun(req);
      if (stored && stored.status === "pending" && stored.coordinator !== undefined && d.driver.isWaiting(req.runId)) throw await notStarted(stored);
      const holder = stored?.coordinator;
      if (holder !== undefined && holder !== d.id && (stored?.leaseUntil ?? 0) >= d.now()) {
        const outcome = await d.forward(`coordinator.${holder}.upgrade`, req);
        if (outcome.kind === "reply") return outcome.body;
      }
      // Its holder is gone: take the run over here (it must be on a plan served here), then move it.
      if (await d.driver.adoptIfOrphaned(req.runId)) {
        if (d.driver.handle(req.runId)) return here(req);
      }
      const current = stored ? `${versionLabel(stored.workflow, stored.version)} (plan ${stored.planHash.slice(0, 12)})` : "its plan";
      throw new UsageError(`run "${req.runId}" has no live coordinator that could move it: it is on ${current}, which this coordinator does not serve; start a coordinator serving both that version and ${req.toVersion}, or wait for its lease to pass to one, then upgrade`);
    },
    async asHolder(req) {
      const handle = d.driver.handle(req.runId);
      if (!handle) {
        const stored = d.driver.isWaiting(req.runId) ? (await d.driver.store.get(req.runId))?.value : undefined;
        if (stored?.status === "pending") throw await notStarted(stored);
        throw new RunNotFoundError(req.runId);
      }
      const { workflow } = handle.status();
      if (!d.served.has(workflow, req.toVersion)) {
        throw new UsageError(`run "${req.runId}" is driven by coordinator "${d.id}", which does not serve ${versionLabel(workflow, req.toVersion)} (it serves ${d.served.describe()}); finish the rolling deploy first — stop this coordinator so one serving both versions takes the run over — then upgrade`);
      }
      return here(req);
    },
  };
}
