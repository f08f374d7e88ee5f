/**
 * The trust model of a deployment, as NATS permissions: one user per role, each allowed
 * exactly the subjects its part of the protocol uses (README, "Security").
 *
 * - **coordinator**: stores decisions, dispatches tasks, sends control messages, serves
 *   the API (`allow_responses`), keeps `<p>_runs`, reads heartbeats and advisories, and
 *   manages the streams (creates them, purges expired histories, deletes exhausted task
 *   messages).
 * - **worker**: takes tasks from its namespaces' durable consumers (pull and ack, one consumer
 *   per priority level), hears its namespaces' task subjects while idle, stores reports, sends live signals, hears control messages, writes heartbeats.
 * - **client**: calls the API (start, get, list, cancel, retry, plan), reads histories
 *   and live signals, and reads heartbeats (`phaseflow workers`, the web view).
 * - every role stores and reads large payloads (`<p>_payloads`, `<p>_payload_refs`); only
 *   the coordinator deletes them (retention, prune).
 *
 * Each role gets its own inbox prefix (`_INBOX_<p>_<role>`, set by the services and the
 * client through `inboxPrefix`), so nobody but workers sees task deliveries — which
 * carry attempt tokens — and nobody but coordinators sees the replies of KV reads.
 *
 * Where the server cannot be narrower: JetStream API subjects name a stream and a
 * consumer but not a run, so a client may open a reader on any run's history, and a
 * worker may pull from any namespace's consumer of the deployment; report subjects name
 * a run, so a worker may store a report for any run — the attempt token (never sent to
 * clients) is what makes such a report count.
 *
 * Acks: an ack subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<seq>...`) names the
 * consumer and the message but not who it was delivered to, and nats-server 2.9 removes
 * a work-queue message on an ack of its sequence whoever sends it: a worker user could
 * ack away tasks it was never given. With `workerNamespaces`, the worker user may pull,
 * ack and manage only those namespaces' consumers (give each group of workers its own
 * user), so a forged ack reaches no other namespace's tasks; within its namespaces the
 * coordinators notice a task message gone with nothing heard of its attempt and dispatch
 * it again (fleet/vanished-tasks.ts).
 */
import { payloadBucketNames } from "./payload-store.js";
import { PRIORITY_LEVELS, type NatsNames } from "./names.js";

export type NatsRole = "coordinator" | "worker" | "client";
export const NATS_ROLES: readonly NatsRole[] = ["coordinator", "worker", "client"];

export interface RolePermissions {
  publish: string[];
  subscribe: string[];
  /** May publish to the reply subject of a request it received (the API's replies). */
  allowResponses: boolean;
}

/** The inbox prefix of a role: its replies and pull deliveries arrive below it. */
export function inboxPrefixOf(names: NatsNames, role: NatsRole): string {
  return `_INBOX_${names.prefix}_${role}`;
}

/** JetStream API subjects to read a stream through ephemeral/ordered consumers (create with a filter, pull, look, delete). */
function consumerReader(stream: string, filter: string): string[] {
  return [
    // Only the create form that names the filter (nats-server 2.9+): a reader cannot open a consumer outside `filter`.
    `$JS.API.CONSUMER.CREATE.${stream}.*.${filter}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
    `$JS.API.CONSUMER.INFO.${stream}.*`,
    `$JS.API.CONSUMER.DELETE.${stream}.*`,
  ];
}

/** Reading a KV bucket: its stream's info, direct and stored gets, and key listings (an ordered consumer). */
function kvReader(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [`$JS.API.DIRECT.GET.${stream}`, `$JS.API.DIRECT.GET.${stream}.>`, `$JS.API.STREAM.MSG.GET.${stream}`, ...consumerReader(stream, `$KV.${bucket}.>`)];
}

/**
 * Payloads over `inlineBytes` (the object store and its holders' KV bucket): every role
 * stores and reads them (a client a large run input or signal payload, a worker a large
 * output, the coordinator the run inputs it checks) and opens the buckets on first use,
 * which creates them when missing. Only `release` deletes (objects no kept run holds):
 * that is retention and prune, the coordinator's work.
 */
function payloadAccess(names: NatsNames, release: boolean): string[] {
  const { objects, holders } = payloadBucketNames(names);
  return [`OBJ_${objects}`, `KV_${holders}`].flatMap((stream) => [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.CREATE.${stream}`,
    `$JS.API.STREAM.UPDATE.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    ...(release ? [`$JS.API.STREAM.PURGE.${stream}`] : []),
  ]).concat([`$O.${objects}.>`, `$KV.${holders}.>`]);
}

/**
 * The permissions of each role for the deployment named by `names`.
 *
 * @example
 * rolePermissions(natsNames("pf")).client.publish; // ["$JS.API.INFO", ..., "pf.api.run.>", "pf.api.plan.get", "pf.api.plan.get.>"]
 */
export function rolePermissions(names: NatsNames, options: { workerNamespaces?: readonly string[] | undefined } = {}): Record<NatsRole, RolePermissions> {
  const p = names.prefix;
  const { tasks, events } = names.streams;
  const runsKv = `KV_${names.buckets.runs}`;
  const workersKv = `KV_${names.buckets.workers}`;
  // Every role opens the transport, which checks that the streams and buckets exist.
  const infra = ["$JS.API.INFO", ...[tasks, events, runsKv, workersKv].map((s) => `$JS.API.STREAM.INFO.${s}`)];
  const inbox = (role: NatsRole): string => `${inboxPrefixOf(names, role)}.>`;
  const namespaces = options.workerNamespaces;
  // The worker's consumers (one per priority level of a namespace, names.ts): every namespace's (`*`), or only the given namespaces'.
  const consumers: { name: string; filter: string }[] =
    namespaces === undefined
      ? [{ name: "*", filter: `${p}.task.>` }]
      : namespaces.flatMap((ns) => PRIORITY_LEVELS.map((level) => ({ name: names.levelConsumer(ns, level), filter: names.subjects.levelTasks(ns, level) })));
  // An idle worker hears its namespaces' task subjects to know when to pull (task-consumer.ts); it sees those messages when it pulls anyway.
  const doorbells = namespaces === undefined ? [`${p}.task.>`] : namespaces.map((ns) => names.subjects.namespaceTasks(ns));
  // The consumer of priority 3 keeps the name consumers had before priority levels; a worker replaces such an old one (infrastructure.ts).
  const legacy = namespaces === undefined ? ["*"] : namespaces.map((ns) => names.namespaceConsumer(ns));
  return {
    coordinator: {
      publish: [
        ...infra,
        // Creates the streams and buckets when they are missing (the first coordinator does).
        ...[tasks, events, runsKv, workersKv].map((s) => `$JS.API.STREAM.CREATE.${s}`),
        `${p}.evt.*.d`,
        // Max-deliveries: a task exhausted on the server is reported as a failed attempt.
        `${p}.evt.*.r`,
        `${p}.task.>`,
        `${p}.ctl`,
        // Cancels forwarded to the coordinator driving a run; starts forwarded to a coordinator serving their version.
        `${p}.api.coordinator.>`,
        `${p}.api.run.>`,
        `${p}.api.plan.get.>`,
        ...consumerReader(events, `${p}.evt.>`),
        `$JS.API.STREAM.MSG.GET.${events}`,
        `$JS.API.STREAM.PURGE.${events}`,
        `$JS.API.STREAM.MSG.GET.${tasks}`,
        `$JS.API.STREAM.MSG.DELETE.${tasks}`,
        `$KV.${names.buckets.runs}.>`,
        `$JS.API.STREAM.PURGE.${runsKv}`,
        ...kvReader(names.buckets.runs),
        ...kvReader(names.buckets.workers),
        ...payloadAccess(names, true),
      ],
      subscribe: [inbox("coordinator"), `${p}.api.>`, `${p}.live.*`, `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${tasks}.*`],
      allowResponses: true,
    },
    worker: {
      publish: [
        ...infra,
        // The durable consumer of each namespace it serves (created or updated by the workers).
        ...consumers.flatMap(({ name: c, filter }) => [
          `$JS.API.CONSUMER.CREATE.${tasks}.${c}`,
          `$JS.API.CONSUMER.CREATE.${tasks}.${c}.${filter}`,
          `$JS.API.CONSUMER.DURABLE.CREATE.${tasks}.${c}`,
          `$JS.API.CONSUMER.INFO.${tasks}.${c}`,
          `$JS.API.CONSUMER.MSG.NEXT.${tasks}.${c}`,
          // Acks, working() and term of the task messages it holds.
          `$JS.ACK.${tasks}.${c}.>`,
        ]),
        ...legacy.map((c) => `$JS.API.CONSUMER.DELETE.${tasks}.${c}`),
        `${p}.evt.*.r`,
        `${p}.live.*`,
        `$KV.${names.buckets.workers}.>`,
        ...payloadAccess(names, false),
      ],
      subscribe: [inbox("worker"), `${p}.ctl`, ...doorbells],
      allowResponses: false,
    },
    client: {
      // Heartbeats are read too: `phaseflow workers` and the web view list the live workers.
      // The last decision of a run by message-get (client.waitForEnd): a client may read any run's history anyway.
      publish: [...infra, `${p}.api.run.>`, `${p}.api.plan.get`, `${p}.api.plan.get.>`, ...consumerReader(events, `${p}.evt.>`), `$JS.API.STREAM.MSG.GET.${events}`, ...kvReader(names.buckets.workers), ...payloadAccess(names, false)],
      subscribe: [inbox("client"), `${p}.live.*`],
      allowResponses: false,
    },
  };
}

export interface NatsConfigOptions {
  /** The password of each role's user (generate them when the operator gives none). */
  passwords: Record<NatsRole, string>;
  /** User names. Default: the role names. */
  users?: Partial<Record<NatsRole, string>>;
  /** Limit the worker user to these executor namespaces' consumers (pull, ack, manage). Default: every namespace. */
  workerNamespaces?: readonly string[];
}

/** A quoted string for a nats-server config file. */
function quote(s: string): string {
  return JSON.stringify(s);
}

/**
 * The `authorization` block of a nats-server config giving each role its user.
 *
 * @example
 * natsAuthorizationBlock(natsNames("pf"), { passwords: { coordinator: "c", worker: "w", client: "k" } });
 */
export function natsAuthorizationBlock(names: NatsNames, options: NatsConfigOptions): string {
  const perms = rolePermissions(names, { workerNamespaces: options.workerNamespaces });
  const list = (items: string[], indent: string): string => `[\n${items.map((s) => `${indent}  ${quote(s)}`).join(",\n")}\n${indent}]`;
  const users = NATS_ROLES.map((role) => {
    const r = perms[role];
    const lines = [
      `    {`,
      `      # ${role}`,
      `      user: ${quote(options.users?.[role] ?? role)}`,
      `      password: ${quote(options.passwords[role])}`,
      `      permissions: {`,
      `        publish: { allow: ${list(r.publish, "        ")} }`,
      `        subscribe: { allow: ${list(r.subscribe, "        ")} }`,
      ...(r.allowResponses ? [`        allow_responses: true`] : []),
      `      }`,
      `    }`,
    ];
    return lines.join("\n");
  });
  return [`authorization {`, `  users: [`, users.join(",\n"), `  ]`, `}`, ``].join("\n");
}
