/**
 * The fleet client for the commands, imported when a command connects rather than
 * when its module loads: the client pulls in the NATS client and the fleet's wire
 * schemas, which `phaseflow <command> --help` (and a usage error) never needs.
 */
import type { Client, ClientOptions } from "../fleet/client.js";

/**
 * Connect a fleet client (`createClient` of `fleet/client.ts`, loaded on first use).
 * @example const client = await createClient(natsOptionsFrom(values));
 */
export async function createClient(options: ClientOptions): Promise<Client> {
  const fleet = await import("../fleet/client.js");
  return fleet.createClient(options);
}
