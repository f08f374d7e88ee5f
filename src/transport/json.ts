/**
 * The wire's JSON step, shared by both adapters so an embedded run refuses exactly
 * what a distributed one does: a value that has no JSON form (BigInt, a cycle, a
 * bare function or `undefined`) is a `PayloadNotJsonError` naming the message.
 */
import { PayloadNotJsonError, type SchemaIssue } from "../errors/base.js";

/** Room kept for headers (Nats-Msg-Id, expected-sequence headers and the NATS/1.0 preamble) when checking a payload's size. */
export const HEADER_ALLOWANCE = 256;

/** Default `capabilities.maxPayload` where no server says otherwise: 1 MiB, nats-server's default max_payload. */
export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** `JSON.stringify(value)`, or a `PayloadNotJsonError` naming `what`. */
export function toJsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new PayloadNotJsonError(what, err);
  }
  if (text === undefined) throw new PayloadNotJsonError(what, new TypeError(`value of type ${typeof value} has no JSON form`));
  return text;
}

/** zod issues as the errors module's plain `SchemaIssue`s. */
export function schemaIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): SchemaIssue[] {
  return issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: i.message }));
}
