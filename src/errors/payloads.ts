/**
 * Errors of the payload store (README "Payloads of any size"): a referenced payload that
 * cannot be had. Content-addressed, so what a reader fetches is checked against its name.
 */
import { PhaseflowError } from "./base.js";

/**
 * A payload reference could not be resolved: the object is gone (`PAYLOAD_MISSING`: its
 * runs were removed by retention or prune), or its bytes do not hash to its name
 * (`PAYLOAD_CORRUPT`: damaged or replaced in the store). Neither gets better by asking again.
 */
export class PayloadStoreError extends PhaseflowError {
  /** The payload's id, `sha256:<hex>`. */
  readonly payloadId: string;
  constructor(code: "PAYLOAD_MISSING" | "PAYLOAD_CORRUPT", payloadId: string, message: string) {
    super(code, message, { retryable: false });
    this.payloadId = payloadId;
  }
}

/**
 * The bytes read for payload `id` hash to `actual`, not to its name.
 * @example throw payloadCorrupt("sha256:ab…", "sha256:cd…", 1024);
 */
export function payloadCorrupt(id: string, actual: string, bytes: number): PayloadStoreError {
  return new PayloadStoreError("PAYLOAD_CORRUPT", id, `payload ${id} read back as ${bytes} bytes whose hash is ${actual}: the object in the payload store is damaged or was replaced; re-run the task that produced it (retry --from), whose upload replaces the damaged object, or restore the bucket`);
}
