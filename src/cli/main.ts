/**
 * Entry point of the `phaseflow` binary (bin/phaseflow.js imports it).
 * All logic is in `run-cli.ts`, so tests can run the CLI in-process without the
 * side effect of this module; this file only wires in the process streams.
 */
import { telemetryRegistered } from "../telemetry/registered.js";
import { runCli } from "./run-cli.js";

export { runCli } from "./run-cli.js";

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  isTTY: process.stdout.isTTY === true,
  cwd: process.cwd(),
});
// An OpenTelemetry SDK the user preloaded (node --import) exports what it still buffers.
// Without one there is nothing to flush, and the API (which `--help` and `compile` never
// load otherwise) stays unloaded.
if (telemetryRegistered()) await (await import("../telemetry/otel.js")).flushTelemetry();
// The command is done. What may still hold the process open is a NATS connection that
// could not close (the server is gone: its reconnect timers run forever), so exit once
// the streams are flushed; an unref'd timer never keeps a finished process alive itself.
setTimeout(() => process.exit(), 100).unref();
