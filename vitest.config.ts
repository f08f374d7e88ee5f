import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (file: string): string => fileURLToPath(new URL(`./src/${file}`, import.meta.url));

/** Test files that run in memory only (no NATS, no child process left behind, no global they leave set). */
const IN_MEMORY = ["tests/unit/**/*.test.ts"];

export default defineConfig({
  resolve: {
    // Examples, workers and fixtures import `phaseflow` as a user does; in the tests that
    // is this repository's source (the bin does the same with the "phaseflow-source"
    // export condition), so one copy of every class is loaded.
    alias: [
      { find: /^phaseflow$/, replacement: src("index.ts") },
      { find: /^phaseflow\/nats$/, replacement: src("nats.ts") },
    ],
  },
  test: {
    // Test files in parallel, at least two at a time even on a 2-core machine (where vitest
    // would run one): the NATS and fault files spend most of their time waiting on leases,
    // ack windows and child processes, not on the CPU, so two side by side take about half
    // the wall time of one after the other. Each file has its own subject prefix (or its own
    // nats-server), temp dirs and fleet, so files never see each other.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        // The unit files share their worker's module graph (no isolation): each would
        // otherwise load src and its dependencies afresh, which costs more than most of
        // them take to run (the unit files: ~55 s -> ~21 s on 2 cores).
        extends: true,
        test: {
          name: "unit",
          include: IN_MEMORY,
          isolate: false,
          typecheck: { enabled: true, include: ["tests/types/**/*.test-d.ts"] },
        },
      },
      {
        extends: true,
        test: {
          name: "isolated",
          include: ["tests/**/*.test.ts"],
          exclude: ["**/node_modules/**", ...IN_MEMORY],
          // tests/integration and tests/faults start one nats-server for the whole run;
          // the global setup starts it (random free port, temp store) and kills it by PID.
          globalSetup: ["tests/support/nats-global-setup.ts"],
        },
      },
    ],
  },
});
