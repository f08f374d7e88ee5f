#!/usr/bin/env node
// Runs before the test suite: the integration and fault tests need a real
// nats-server. If it is missing, install it from apt when we are root on Debian,
// otherwise say exactly what to install and fail (never skip those tests silently).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const bin = process.env.NATS_SERVER_BIN ?? "nats-server";
const found = () => spawnSync(bin, ["--version"], { encoding: "utf8" });

let probe = found();
if (probe.status === 0) process.exit(0);

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (isRoot && existsSync("/usr/bin/apt-get")) {
  console.error("nats-server not found: installing it with apt-get (Debian package nats-server)...");
  try {
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  } catch {
    // fall through to the message below
  }
  probe = found();
  if (probe.status === 0) process.exit(0);
}
console.error(
  [
    "The test suite needs nats-server (2.9 or newer) for tests/integration and tests/faults.",
    "Install it, then run the tests again:",
    "  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y nats-server",
    "  macOS:          brew install nats-server",
    "  or set NATS_SERVER_BIN=/path/to/nats-server",
  ].join("\n"),
);
process.exit(1);
