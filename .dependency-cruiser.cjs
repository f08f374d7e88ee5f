// Architecture checks run by `npm run lint` (and so by CI):
// no import cycles, and the pure core (dsl, compiler, plan, registry, errors)
// never reaches the runtime, the wire, NATS or the logger; runtime/core is pure (no
// shell, adapters or Node built-ins); support/ sits below everything; only
// src/transport/nats imports the NATS client.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    {
      name: "pure-core",
      comment: "dsl, compiler, plan, registry and errors are pure: no runtime, transport, worker, cli, NATS or pino",
      severity: "error",
      from: { path: "^src/(dsl|compiler|plan|registry|errors)/" },
      to: { path: ["^src/(runtime|transport|worker|cli)/", "node_modules/(@nats-io|pino)"] },
    },
    {
      name: "runtime-not-nats",
      comment: "the runtime, the embedded engine and the worker library talk to the Transport port, never to NATS directly",
      severity: "error",
      from: { path: "^src/(runtime|embedded|worker|support)/" },
      to: { path: ["^src/transport/nats/", "node_modules/@nats-io"] },
    },
    {
      name: "nats-only-in-transport-nats",
      comment:
        "only the NATS adapter (src/transport/nats) imports the NATS client; the fleet, the CLI and the web view reach NATS through the Transport and fleet ports (transport/port.ts, transport/fleet-port.ts), so none of them holds a connection, JetStream manager or bucket",
      severity: "error",
      from: { pathNot: "^src/transport/nats/" },
      to: { path: "node_modules/@nats-io" },
    },
    {
      name: "core-is-pure",
      comment:
        "runtime/core is the pure fold and decider (DESIGN §5): no shell, embedded engine, fleet, worker, transport adapter or port, web view, CLI, logger, telemetry or Node built-in. It may read the wire schemas (transport/messages, json, decode), the plan, errors and support.",
      severity: "error",
      from: { path: "^src/runtime/core/" },
      to: {
        path: [
          "^src/runtime/shell/",
          "^src/(embedded|fleet|worker|ui|cli|triggers|archive|telemetry)/",
          "^src/transport/(memory|nats)/",
          "^src/transport/port[.]ts$",
          "node_modules/(@nats-io|pino|@opentelemetry)",
        ],
      },
    },
    {
      name: "core-no-node-builtins",
      comment: "runtime/core runs anywhere a fold runs: what it needs of node:crypto is named in support/hash.ts",
      severity: "error",
      from: { path: "^src/runtime/core/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "shell-below-compositions",
      comment: "the coordinator shell is used by the embedded engine and the fleet, never the other way round",
      severity: "error",
      from: { path: "^src/runtime/shell/" },
      to: { path: "^src/(embedded|fleet|worker|ui|cli|triggers|archive)/" },
    },
    {
      name: "transport-below-its-users",
      comment: "transport/ (ports, wire schemas, memory and NATS adapters) sits below everything that uses it (docs/architecture.md, the floors)",
      severity: "error",
      from: { path: "^src/transport/" },
      to: { path: "^src/(runtime|embedded|worker|fleet|ui|cli|triggers|archive|compiler|dsl)/" },
    },
    {
      name: "worker-below-compositions",
      comment: "the worker library uses the pure core and the Transport port; the embedded engine and the fleet compose it, never the other way round",
      severity: "error",
      from: { path: "^src/worker/" },
      to: { path: "^src/(runtime/shell|embedded|fleet|ui|cli|archive|triggers|compiler)/" },
    },
    {
      name: "embedded-below-fleet",
      comment: "the fleet runs the embedded engine on a NATS transport; the embedded engine knows nothing of the fleet, the web view or the CLI",
      severity: "error",
      from: { path: "^src/embedded/" },
      to: { path: "^src/(fleet|ui|cli|archive)/" },
    },
    {
      name: "fleet-below-views",
      comment: "the web view and the CLI use the fleet; the fleet uses neither",
      severity: "error",
      from: { path: "^src/fleet/" },
      to: { path: "^src/(ui|cli|archive)/" },
    },
    {
      name: "ui-below-cli",
      comment: "the CLI serves the web view; the web view does not call the CLI",
      severity: "error",
      from: { path: "^src/(ui|archive)/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "support-at-the-bottom",
      comment: "support/ (clock, ids, hashes, logger, options) is what every layer may use, so it uses none of them",
      severity: "error",
      from: { path: "^src/support/" },
      to: { path: "^src/(runtime|embedded|fleet|worker|transport|ui|cli|triggers|archive|dsl|compiler)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
