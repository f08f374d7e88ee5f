/**
 * The connection flags every NATS-facing command shares (--nats, --prefix, credentials,
 * TLS), and their translation into NatsTransportOptions.
 */
import type { FlagSpec } from "./command.js";
import { parseSize } from "./size.js";
import type { NatsTransportOptions } from "../transport/nats/options.js";

export const NATS_FLAGS = {
  nats: { type: "string", valueName: "URL", description: "NATS server URL(s), comma-separated, e.g. nats://127.0.0.1:4222" },
  prefix: { type: "string", valueName: "NAME", description: 'names every stream, bucket and subject, so deployments can share a server (default "pf")' },
  user: { type: "string", valueName: "USER", description: "NATS user (or env PHASEFLOW_NATS_USER), e.g. the role's user from phaseflow nats-config" },
  pass: { type: "string", valueName: "PASS", description: "NATS password (or env PHASEFLOW_NATS_PASS, which keeps it out of ps)" },
  token: { type: "string", valueName: "TOKEN", description: "NATS token (or env PHASEFLOW_NATS_TOKEN)" },
  creds: { type: "string", valueName: "FILE", description: "NATS credentials (.creds) file (or env PHASEFLOW_NATS_CREDS)" },
  "tls-ca": { type: "string", valueName: "FILE", description: "CA certificate to verify the server" },
  "tls-cert": { type: "string", valueName: "FILE", description: "client certificate (mutual TLS)" },
  "tls-key": { type: "string", valueName: "FILE", description: "client key (mutual TLS)" },
  "max-payload": { type: "string", valueName: "SIZE", description: "largest task input or output, run input or output, or signal payload accepted, e.g. 128MB (default 64MB); values over 256KB travel through the pf_payloads object store" },
} as const satisfies Record<string, FlagSpec>;

type NatsFlagValues = { -readonly [K in keyof typeof NATS_FLAGS]?: string | undefined };

/** Environment variables standing in for credential flags left out (a flag wins). */
export const NATS_CREDENTIAL_ENV = { user: "PHASEFLOW_NATS_USER", pass: "PHASEFLOW_NATS_PASS", token: "PHASEFLOW_NATS_TOKEN", creds: "PHASEFLOW_NATS_CREDS" } as const;

/** NatsTransportOptions from the parsed flags (`--nats` is required by the caller), credentials falling back to the environment. */
export function natsOptionsFrom(flags: NatsFlagValues, env: NodeJS.ProcessEnv = process.env): Omit<NatsTransportOptions, "logger"> {
  const values: NatsFlagValues = { ...flags };
  for (const [flag, name] of Object.entries(NATS_CREDENTIAL_ENV) as [keyof typeof NATS_CREDENTIAL_ENV, string][]) {
    const fromEnv = env[name];
    if (values[flag] === undefined && fromEnv !== undefined && fromEnv !== "") values[flag] = fromEnv;
  }
  const tls =
    values["tls-ca"] !== undefined || values["tls-cert"] !== undefined || values["tls-key"] !== undefined
      ? {
          ...(values["tls-ca"] !== undefined ? { caFile: values["tls-ca"] } : {}),
          ...(values["tls-cert"] !== undefined ? { certFile: values["tls-cert"] } : {}),
          ...(values["tls-key"] !== undefined ? { keyFile: values["tls-key"] } : {}),
        }
      : undefined;
  return {
    servers: (values.nats ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
    ...(values.user !== undefined ? { user: values.user } : {}),
    ...(values.pass !== undefined ? { pass: values.pass } : {}),
    ...(values.token !== undefined ? { token: values.token } : {}),
    ...(values.creds !== undefined ? { credsFile: values.creds } : {}),
    ...(tls ? { tls } : {}),
    ...(values["max-payload"] !== undefined ? { maxPayload: parseSize(values["max-payload"], "--max-payload") } : {}),
  };
}

/** The flags that reach the same deployment, for hints: `--nats URL` and `--prefix P` when given. */
export function natsFlagsText(values: NatsFlagValues): string {
  return `--nats ${values.nats ?? ""}${values.prefix !== undefined ? ` --prefix ${values.prefix}` : ""}`;
}

/** Resolves when the process gets SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}
