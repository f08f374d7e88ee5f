/**
 * The `--replicas N` flag of `phaseflow coordinator` and `phaseflow nats-setup`: the
 * Raft replica count of phaseflow's streams and KV buckets.
 */
import { UsageError } from "../errors/base.js";
import { MAX_REPLICAS } from "../transport/nats/options.js";
import type { FlagSpec } from "./command.js";

export const REPLICAS_FLAG = {
  replicas: {
    type: "string",
    valueName: "N",
    description: `replicas of the streams and KV buckets, 1 to ${MAX_REPLICAS} (3 on a 3-node cluster); checked against existing ones (default: create with 3 on a cluster of 3+ JetStream servers, 1 on a single server; use existing as they are)`,
  },
} as const satisfies Record<string, FlagSpec>;

/** The parsed `--replicas` value, or undefined when not given. */
export function replicasFrom(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) throw new UsageError(`--replicas "${value}" must be a whole number from 1 to ${MAX_REPLICAS}`);
  return n;
}
