#!/usr/bin/env node
// Runs before the test suite. The integration and fault tests need a real nats-server,
// and the browser tests need Chromium. Whatever is missing is installed from apt when we
// are root on Debian; otherwise this says exactly what to install and fails, so those
// tests are never skipped silently.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const natsBin = process.env.NATS_SERVER_BIN ?? "nats-server";
const chromium = process.env.PHASEFLOW_CHROMIUM ?? "/usr/bin/chromium";

const needs = [
  {
    what: "nats-server (2.9 or newer), for tests/integration and tests/faults",
    present: () => spawnSync(natsBin, ["--version"], { encoding: "utf8" }).status === 0,
    apt: "nats-server",
    hints: ["  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y nats-server", "  macOS:          brew install nats-server", "  or set NATS_SERVER_BIN=/path/to/nats-server"],
  },
  {
    what: `Chromium at ${chromium}, for tests/browser`,
    present: () => existsSync(chromium),
    apt: "chromium",
    hints: ["  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y chromium", "  or set PHASEFLOW_CHROMIUM=/path/to/chromium"],
  },
];

let missing = needs.filter((n) => !n.present());
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (isRoot && existsSync("/usr/bin/apt-get")) {
  const packages = missing.map((n) => n.apt);
  console.error(`missing ${missing.map((n) => n.what).join("; ")}: installing ${packages.join(", ")} with apt-get...`);
  try {
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", ...packages], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  } catch {
    // fall through to the message below
  }
  missing = missing.filter((n) => !n.present());
  if (missing.length === 0) process.exit(0);
}
for (const n of missing) {
  console.error([`The test suite needs ${n.what}.`, "Install it, then run the tests again:", ...n.hints].join("\n"));
}
process.exit(1);
