/**
 * Content hash of a plan: sha-256 over a canonical JSON form (object keys sorted,
 * arrays kept in order), excluding `planHash` itself.
 */
import { createHash } from "node:crypto";
import type { Plan } from "./schema.js";

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

export function computePlanHash(plan: Omit<Plan, "planHash">): string {
  const { planHash: _ignored, ...rest } = plan as Plan;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}
