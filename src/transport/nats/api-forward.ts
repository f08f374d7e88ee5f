/**
 * One coordinator asking another over core NATS request/reply: a start forwarded to a
 * coordinator serving the workflow version asked for (DESIGN §9). The reply is handed
 * back as it came (JSON), so the caller relays the other coordinator's answer, its
 * errors included, unchanged.
 */
import { errors, type NatsConnection } from "@nats-io/transport-node";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export type ForwardOutcome = { kind: "reply"; body: object } | { kind: "no-responders" };

/**
 * Send `body` to `subject` and wait for one reply; "no-responders" when nobody listens there.
 * @throws the NATS client's error on a timeout or a lost connection; SyntaxError on a reply that is not JSON
 */
export async function forwardRequest(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<ForwardOutcome> {
  try {
    const msg = await nc.request(subject, encoder.encode(JSON.stringify(body)), { timeout: timeoutMs });
    return { kind: "reply", body: JSON.parse(decoder.decode(msg.data)) as object };
  } catch (err) {
    if (err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders())) return { kind: "no-responders" };
    throw err;
  }
}
