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
    // Files run as many at a time as vitest picks for the machine (one on 2 cores). Two at a
    // time on 2 cores was ~40% faster, but under that load a nats-server SIGKILL restart in
    // tests/faults/nats-restart sometimes came back counting a held task's deliveries as
    // exhausted at once (MAX_DELIVERIES 60 ms after the restart); until that is understood,
    // the fault files keep the machine to themselves.
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
          // These tests start real processes (nats-server, coordinators, workers, the CLI).
          // Loading one through tsx takes 1-2 s on an idle machine and took over 30 s on 2
          // cores at load 20-25, so a test of a few such starts needs far more than the 30 s
          // default there; a test that passes ends as soon as it is done, so this only
          // changes how long a hung one takes to fail.
          testTimeout: 120_000,
          exclude: ["**/node_modules/**", ...IN_MEMORY],
          // tests/integration and tests/faults start one nats-server for the whole run;
          // the global setup starts it (random free port, temp store) and kills it by PID.
          globalSetup: ["tests/support/nats-global-setup.ts"],
        },
      },
    ],
  },
});
