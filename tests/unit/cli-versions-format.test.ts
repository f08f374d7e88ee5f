// The versions report (versionReport) and its text (formatVersions): rows from the
// coordinators' heartbeats and the in-flight runs, ordered naturally by version; an older
// version with no run in flight is marked safe to retire, one with runs and no coordinator
// says its runs wait.
import { describe, expect, it } from "vitest";
import { formatVersions } from "../../src/cli/commands/versions.js";
import type { CoordinatorHeartbeat } from "../../src/fleet/coordinator-heartbeat.js";
import { versionReport } from "../../src/fleet/versions-report.js";

const H = (n: number): string => String(n).repeat(64);
const coordinator = (coordinatorId: string, served: CoordinatorHeartbeat["served"]): CoordinatorHeartbeat => ({ coordinatorId, host: "h", pid: 1, served, runs: 0, startedAt: 0, intervalMs: 1000, at: 0 });

describe("versions report", () => {
  it("versions - rows per workflow and version, coordinators and runs in flight counted", () => {
    const rows = versionReport(
      [coordinator("b", [{ workflow: "etl", version: "10", planHash: H(3) }, { workflow: "etl", version: "2", planHash: H(2) }]), coordinator("a", [{ workflow: "etl", version: "10", planHash: H(3) }])],
      [
        { workflow: "etl", version: "2", planHash: H(2) },
        { workflow: "etl", version: "1", planHash: H(1) },
        { workflow: "etl", version: "1", planHash: H(1) },
      ],
    );
    expect(rows).toEqual([
      { workflow: "etl", version: "1", planHash: H(1), coordinators: [], inFlight: 2 },
      { workflow: "etl", version: "2", planHash: H(2), coordinators: ["b"], inFlight: 1 },
      { workflow: "etl", version: "10", planHash: H(3), coordinators: ["a", "b"], inFlight: 0 },
    ]);
    const text = formatVersions([...rows, { workflow: "etl", version: "11", planHash: H(4), coordinators: ["a"], inFlight: 0 }].sort((x, y) => x.version.length - y.version.length || x.version.localeCompare(y.version)));
    expect(text).toContain("1        111111111111  none          2 runs in flight (waiting: no live coordinator serves it)");
    expect(text).toContain("10       333333333333  a,b           0 runs in flight (none: safe to retire)");
    expect(text).toMatch(/11 {7}444444444444 {2}a {13}0 runs in flight\n$/);
  });

  it("versions - nothing known says how to start a coordinator", () => {
    expect(formatVersions([])).toMatch(/^no workflow versions .*phaseflow coordinator --nats URL/);
  });
});
