import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (file: string): string => fileURLToPath(new URL(`./src/${file}`, import.meta.url));

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
    include: ["tests/**/*.test.ts"],
    // tests/integration and tests/faults start one nats-server for the whole run;
    // the global setup starts it (random free port, temp store) and kills it by PID.
    globalSetup: ["tests/support/nats-global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    typecheck: { enabled: true, include: ["tests/types/**/*.test-d.ts"] },
  },
});
