/**
 * `phaseflow ui --nats URL [--port 8080] [--host 127.0.0.1] [--auth-token TOKEN]`: the
 * web view of a fleet — run list, run pages with the live state machine and DAG, task
 * attempts, cancel and retry, live workers — until SIGINT/SIGTERM. It binds to
 * 127.0.0.1 unless --host says otherwise, and then needs an auth token.
 */
import { UsageError } from "../../errors/base.js";
import { createClient } from "../fleet-client.js";
import { createLogger } from "../../support/logger.js";
import { createFleetBackend } from "../../ui/fleet-backend.js";
import { startUiServer } from "../../ui/server.js";
import { resolveUiServerOptions } from "../../ui/ui-options.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { NATS_FLAGS, natsOptionsFrom, untilSignal } from "../nats-flags.js";
import { closeWithin, DRAIN_FLAG, drainTimeoutFrom } from "../shutdown.js";
import { UI_AUTH_FLAG, uiOpenUrl, uiServerOptionsFrom } from "../ui-flags.js";

export const uiCommand = defineCommand({
  name: "ui",
  summary: "Serve the web view of a fleet: runs, their state machines and live DAGs, tasks, workers",
  usage: "--nats URL [--port 8080] [--host 127.0.0.1] [--auth-token TOKEN]",
  details: [
    "Open the printed address in a browser. It listens on 127.0.0.1 (this machine only) by default;",
    "with --host 0.0.0.0 (or any other address) it needs --auth-token or PHASEFLOW_UI_TOKEN, and every",
    "request must carry the token (open the page once as /?token=TOKEN; it is then kept in a cookie).",
  ].join("\n"),
  flags: {
    ...NATS_FLAGS,
    port: { type: "string", valueName: "PORT", description: "TCP port (default 8080; 0 picks a free one)" },
    host: { type: "string", valueName: "HOST", description: "interface to listen on (default 127.0.0.1)" },
    ...UI_AUTH_FLAG,
    ...DRAIN_FLAG,
  },
  async run({ values }, io) {
    if (values.nats === undefined) throw new UsageError("missing --nats URL (the web view reads the runs of a fleet from NATS)");
    const server = uiServerOptionsFrom(values.port, values.host, values["auth-token"], "port");
    // A public host without a token is refused before anything connects.
    resolveUiServerOptions(server);
    const drainMs = drainTimeoutFrom(values["drain-timeout"]);
    const logger = createLogger({ name: "phaseflow-ui" });
    const client = await createClient({ ...natsOptionsFrom(values), logger });
    let ui;
    try {
      ui = await startUiServer({ ...server, backend: createFleetBackend(client, logger), logger });
    } catch (err) {
      await client.close();
      throw err;
    }
    logger.info({ url: ui.url, port: ui.port, auth: server.authToken !== undefined }, "web view started");
    io.stdout.write(`phaseflow ui: open ${uiOpenUrl(ui.url, server)}\n`);
    const signal = await untilSignal();
    logger.info({ signal }, "signal received: stopping the web view");
    await closeWithin(
      async () => {
        await ui.close();
        await client.close();
      },
      drainMs,
      logger,
      "phaseflow ui",
    );
    return EXIT_OK;
  },
});
