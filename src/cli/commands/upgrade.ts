/**
 * `phaseflow upgrade <runId> --to-version V [--dry-run] --nats URL`: move a running fleet
 * run onto another version of its workflow (README "Deploying new versions"), when that version's plan
 * can carry on from where the run stands. Incompatible: every issue is printed with its
 * code, nothing changes, exit 1. `--dry-run` prints what would happen and changes
 * nothing (exit 0 when compatible, 1 when not). An unknown or ended run, or a version
 * no live coordinator serves: exit 2.
 */
import { RunNotFoundError, UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { UpgradeRefusedError, type UpgradeIssue } from "../../errors/upgrade.js";
import type { UpgradeReport } from "../../runtime/core/upgrade.js";
import { defineCommand } from "../command.js";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from "../exit-codes.js";
import { NATS_FLAGS, natsFlagsText, natsOptionsFrom } from "../nats-flags.js";
import { describeUnknownRun } from "../unknown-run.js";

const issueLines = (issues: readonly UpgradeIssue[]): string => issues.map((i) => `  [${i.code}] ${i.path}: ${i.message}\n`).join("");

/** The text `upgrade` prints for a report. */
export function formatUpgradeReport(r: UpgradeReport): string {
  const move = `${r.workflow}@${r.from.version} (plan ${r.from.planHash.slice(0, 12)}) -> ${r.workflow}@${r.to.version} (plan ${r.to.planHash.slice(0, 12)})`;
  const where = r.state !== undefined ? `, in state "${r.state}"` : "";
  if (r.upgraded) return `run ${r.runId} upgraded: ${move}${where}; it carries on on the new plan\n`;
  if (r.issues.length === 0) return `run ${r.runId} can be upgraded: ${move}${where} (dry run: nothing changed)\n`;
  const n = r.issues.length;
  return `run ${r.runId} cannot be upgraded: ${move}${where}: ${n} incompatibilit${n === 1 ? "y" : "ies"}${r.dryRun ? " (dry run)" : ""}; nothing changed\n${issueLines(r.issues)}`;
}

export const upgradeCommand = defineCommand({
  name: "upgrade",
  summary: "Move a running run onto another version of its workflow, when compatible",
  usage: "<runId> --to-version V --nats URL [--dry-run]",
  flags: {
    ...NATS_FLAGS,
    "to-version": { type: "string", valueName: "V", description: "the version of the run's workflow to move it onto" },
    "dry-run": { type: "boolean", description: "only check and show what would happen; change nothing" },
  },
  positionals: { min: 1, max: 1, missing: "missing the run id, e.g. phaseflow upgrade run_0abc --to-version 2 --nats nats://127.0.0.1:4222" },
  async run({ values, positionals }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL");
    const toVersion = values["to-version"];
    if (toVersion === undefined || toVersion === "") throw new UsageError("missing --to-version V (the version to move the run onto; `phaseflow versions` lists them)");
    const [runId] = positionals as [string];
    const client = await createClient(natsOptionsFrom(values));
    try {
      const report = await client.upgrade(runId, { toVersion, dryRun: values["dry-run"] === true });
      io.stdout.write(formatUpgradeReport(report));
      return report.issues.length === 0 ? EXIT_OK : EXIT_FAILED;
    } catch (err) {
      if (err instanceof UpgradeRefusedError) {
        io.stderr.write(`phaseflow upgrade: ${err.message}\n`);
        return EXIT_FAILED;
      }
      if (!(err instanceof RunNotFoundError)) throw err;
      io.stderr.write(`phaseflow upgrade: ${describeUnknownRun(runId, natsFlagsText(values))}\n`);
      return EXIT_USAGE;
    } finally {
      await client.close();
    }
  },
});
