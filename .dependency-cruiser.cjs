// Architecture checks run by `npm run lint` (and so by CI):
// no import cycles, and the pure core (dsl, compiler, plan, registry, errors)
// never reaches the runtime, the wire, NATS or the logger.
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
      comment: "the runtime and worker library talk to the Transport port, never to NATS directly",
      severity: "error",
      from: { path: "^src/(runtime|worker)/" },
      to: { path: ["^src/transport/nats/", "node_modules/@nats-io"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
