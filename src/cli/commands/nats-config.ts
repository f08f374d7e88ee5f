/**
 * `phaseflow nats-config [--prefix pf]`: print a nats-server `authorization` block with
 * one user per role (coordinator, worker, client), each allowed exactly the subjects its
 * part of the protocol uses (transport/nats/permissions.ts; README "Security"). Passwords come
 * from the flags or are generated; give each process its role's user and password
 * (`--user/--pass`, or PHASEFLOW_NATS_USER / PHASEFLOW_NATS_PASS).
 */
import { randomBytes } from "node:crypto";
import { UsageError } from "../../errors/base.js";
import { NATS_ROLES, natsAuthorizationBlock, type NatsRole } from "../../transport/nats/permissions.js";
import { checkPrefix, DEFAULT_PREFIX, isSubjectToken, natsNames } from "../../transport/nats/names.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";

export const natsConfigCommand = defineCommand({
  name: "nats-config",
  summary: "Print a nats-server authorization block: one user per role, least privilege",
  usage: "[--prefix NAME] [--coordinator-password P] [--worker-password P] [--client-password P] [--worker-namespaces NS,...]",
  details:
    "Include the block in the server's config (next to `jetstream {}`), then start each coordinator, worker and client with its role's user: --user coordinator --pass ... (or PHASEFLOW_NATS_USER / PHASEFLOW_NATS_PASS). Passwords not given are generated and printed in the block. Start a coordinator before the workers: only coordinators may create the streams and buckets.",
  flags: {
    prefix: { type: "string", valueName: "NAME", description: 'the deployment\'s --prefix (default "pf")' },
    "coordinator-password": { type: "string", valueName: "P", description: "password of the coordinator user (default: generated)" },
    "worker-password": { type: "string", valueName: "P", description: "password of the worker user (default: generated)" },
    "client-password": { type: "string", valueName: "P", description: "password of the client user (default: generated)" },
    "worker-namespaces": {
      type: "string",
      valueName: "NS,...",
      description: "limit the worker user to these executor namespaces: it can take, ack and manage only their tasks (default: every namespace)",
    },
  },
  run({ values }, io) {
    const prefix = values.prefix ?? DEFAULT_PREFIX;
    const problem = checkPrefix(prefix);
    if (problem !== undefined) throw new UsageError(`--prefix: ${problem}`);
    const given: Record<NatsRole, string | undefined> = {
      coordinator: values["coordinator-password"],
      worker: values["worker-password"],
      client: values["client-password"],
    };
    const workerNamespaces = values["worker-namespaces"]?.split(",").map((s) => s.trim()).filter((s) => s !== "");
    if (workerNamespaces !== undefined) {
      if (workerNamespaces.length === 0) throw new UsageError("--worker-namespaces needs at least one namespace, e.g. --worker-namespaces etl,reports");
      for (const ns of workerNamespaces) {
        if (!isSubjectToken(ns)) throw new UsageError(`--worker-namespaces: namespace "${ns}" must be letters, digits, '_' or '-' (an executor key's namespace)`);
      }
    }
    const passwords = {} as Record<NatsRole, string>;
    for (const role of NATS_ROLES) {
      const pass = given[role];
      if (pass !== undefined && pass.length < 8) throw new UsageError(`--${role}-password must be at least 8 characters; leave it out to have one generated`);
      passwords[role] = pass ?? randomBytes(18).toString("base64url");
    }
    io.stdout.write(
      [
        `# phaseflow roles for prefix "${prefix}" (phaseflow nats-config${values.prefix !== undefined ? ` --prefix ${prefix}` : ""}).`,
        `# coordinator: decisions, task dispatch, control, the API, ${prefix}_runs, stream management (also for phaseflow prune).`,
        `# worker: takes and acks tasks${workerNamespaces !== undefined ? ` of namespaces ${workerNamespaces.join(", ")} only` : ""}, stores reports, live signals, heartbeats.`,
        `# client: the API (run, status, cancel, retry) and reading histories (follow).`,
        natsAuthorizationBlock(natsNames(prefix), { passwords, ...(workerNamespaces !== undefined ? { workerNamespaces } : {}) }),
      ].join("\n"),
    );
    return EXIT_OK;
  },
});
