import { defineConfig } from "vitest/config";

export default defineConfig({
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
