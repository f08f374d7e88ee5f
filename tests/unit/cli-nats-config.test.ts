// `phaseflow nats-config`: the authorization block (one user per role, the prefix's
// subjects, given or generated passwords) and the credential environment variables
// every NATS-facing command reads when its flags leave them out.
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/run-cli.js";
import { natsOptionsFrom } from "../../src/cli/nats-flags.js";
import { rolePermissions } from "../../src/transport/nats/permissions.js";
import { natsNames } from "../../src/transport/nats/names.js";

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, isTTY: false });
  return { code, stdout, stderr };
}

describe("cli - nats-config", () => {
  it("cli - nats-config prints one user per role with the given passwords and the prefix's subjects", async () => {
    const { code, stdout } = await cli(["nats-config", "--prefix", "prod", "--coordinator-password", "c-secret-1", "--worker-password", "w-secret-1", "--client-password", "k-secret-1"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^authorization \{$/m);
    for (const [user, pass] of [["coordinator", "c-secret-1"], ["worker", "w-secret-1"], ["client", "k-secret-1"]]) {
      expect(stdout).toContain(`user: "${user}"\n      password: "${pass}"`);
    }
    expect(stdout).toContain('"prod.evt.*.d"');
    expect(stdout).toContain('"$JS.ACK.PROD_TASKS.*.>"');
    expect(stdout).toContain('"_INBOX_prod_client.>"');
    expect(stdout).not.toContain('"pf.');
    expect(stdout.match(/allow_responses: true/g)).toHaveLength(1);
  });

  it("cli - nats-config generates distinct passwords when none are given", async () => {
    const a = (await cli(["nats-config"])).stdout;
    const b = (await cli(["nats-config"])).stdout;
    const passwords = (s: string) => [...s.matchAll(/password: "([^"]+)"/g)].map((m) => m[1]);
    expect(new Set([...passwords(a), ...passwords(b)]).size).toBe(6);
  });

  it("cli - nats-config refuses a bad prefix and a short password (exit 2)", async () => {
    expect((await cli(["nats-config", "--prefix", "Bad.Prefix"])).code).toBe(2);
    const short = await cli(["nats-config", "--worker-password", "abc"]);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain("--worker-password must be at least 8 characters");
  });

  it("nats permissions - only coordinators store decisions, only workers ack tasks, clients only call the run and plan API", () => {
    const perms = rolePermissions(natsNames("pf"));
    expect(perms.coordinator.publish).toContain("pf.evt.*.d");
    expect(perms.worker.publish).not.toContain("pf.evt.*.d");
    expect(perms.client.publish.some((s) => s.startsWith("pf.evt") || s.startsWith("pf.task") || (s.startsWith("$KV") && s !== "$KV.pf_payload_refs.>") || (s.includes("KV_pf_runs") && !s.startsWith("$JS.API.STREAM.INFO.")) || s.startsWith("$JS.ACK"))).toBe(false);
    expect(perms.client.publish.filter((s) => s.startsWith("pf.api"))).toEqual(["pf.api.run.>", "pf.api.plan.get", "pf.api.plan.get.>"]);
    expect(perms.coordinator.publish.some((s) => s.startsWith("$JS.ACK") || s.includes("CONSUMER.MSG.NEXT.PF_TASKS"))).toBe(false);
    expect(perms.worker.subscribe).not.toContain("pf.api.>");
    // Large payloads: every role stores and reads them; only the coordinator (retention, prune) deletes.
    for (const role of ["coordinator", "worker", "client"] as const) expect(perms[role].publish).toContain("$O.pf_payloads.>");
    expect(perms.coordinator.publish).toContain("$JS.API.STREAM.PURGE.OBJ_pf_payloads");
    expect(perms.worker.publish.some((s) => s.startsWith("$JS.API.STREAM.PURGE"))).toBe(false);
    expect(perms.client.publish.some((s) => s.startsWith("$JS.API.STREAM.PURGE"))).toBe(false);
  });

  it("cli - credential flags fall back to PHASEFLOW_NATS_* environment variables; a flag wins", () => {
    const env = { PHASEFLOW_NATS_USER: "worker", PHASEFLOW_NATS_PASS: "from-env" };
    expect(natsOptionsFrom({ nats: "nats://h:4222" }, env)).toMatchObject({ user: "worker", pass: "from-env" });
    expect(natsOptionsFrom({ nats: "nats://h:4222", pass: "from-flag" }, env)).toMatchObject({ user: "worker", pass: "from-flag" });
    expect(natsOptionsFrom({ nats: "nats://h:4222" }, { PHASEFLOW_NATS_CREDS: "/etc/pf.creds" })).toMatchObject({ credsFile: "/etc/pf.creds" });
  });
});
