/**
 * The web view's flags, shared by `phaseflow ui` and `phaseflow run --ui`, and their
 * translation into the server's options (the token from the flag or PHASEFLOW_UI_TOKEN).
 */
import { UsageError } from "../errors/base.js";
import { DEFAULT_UI_HOST, DEFAULT_UI_PORT, UI_TOKEN_ENV, type UiServerOptions } from "../ui/ui-options.js";
import type { FlagSpec } from "./command.js";

export const UI_AUTH_FLAG = {
  "auth-token": { type: "string", valueName: "TOKEN", description: `token every request to the web view must carry (or set ${UI_TOKEN_ENV}); required with a --host other than localhost` },
} as const satisfies Record<string, FlagSpec>;

/** Server options from `--port`/`--host` style values and the auth token flag or environment. */
export function uiServerOptionsFrom(port: string | undefined, host: string | undefined, authToken: string | undefined, portFlag: string, env: NodeJS.ProcessEnv = process.env): UiServerOptions {
  const p = port === undefined ? DEFAULT_UI_PORT : Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65_535) throw new UsageError(`--${portFlag} "${port}" must be a TCP port number (0-65535; 0 picks a free one)`);
  const token = authToken ?? (env[UI_TOKEN_ENV] !== undefined && env[UI_TOKEN_ENV] !== "" ? env[UI_TOKEN_ENV] : undefined);
  return { port: p, host: host ?? DEFAULT_UI_HOST, ...(token !== undefined ? { authToken: token } : {}) };
}

/** The address to open, with the token when one is set (it moves into a cookie on first load). */
export function uiOpenUrl(url: string, options: UiServerOptions): string {
  return options.authToken === undefined ? url : `${url}?token=${encodeURIComponent(options.authToken)}`;
}
