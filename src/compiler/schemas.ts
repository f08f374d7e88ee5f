/**
 * zod schemas as JSON Schema, for the Plan (display and hashing) and for the
 * checks that compare a task's declared schema with its executor's.
 */
import { z, type ZodType } from "zod";

export type JsonSchema = Record<string, unknown>;

export function toJsonSchema(schema: ZodType | undefined): JsonSchema | null {
  if (schema === undefined) return null;
  try {
    const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { unrepresentable: "any", io: "output" }) as JsonSchema;
    return rest;
  } catch {
    // Some schemas (e.g. with cycles of refinements) cannot be expressed; keep a marker.
    return { description: "(schema not representable as JSON Schema)" };
  }
}

/** Top-level property names of an object schema, or undefined when it is not an object schema. */
export function topLevelKeys(schema: JsonSchema | null): string[] | undefined {
  if (!schema || schema.type !== "object" || typeof schema.properties !== "object" || schema.properties === null) return undefined;
  return Object.keys(schema.properties).sort();
}

/** The values of `properties.pathway.enum`, when the router's output declares them. */
export function pathwayEnum(schema: JsonSchema | null): string[] | undefined {
  const props = schema?.properties as Record<string, JsonSchema> | undefined;
  const pathway = props?.pathway;
  if (!pathway) return undefined;
  if (Array.isArray(pathway.enum)) return pathway.enum.filter((v): v is string => typeof v === "string");
  if (typeof pathway.const === "string") return [pathway.const];
  return undefined;
}
