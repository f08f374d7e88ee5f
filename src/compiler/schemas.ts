/**
 * zod schemas as JSON Schema, for the Plan (display and hashing) and for the
 * checks that compare a task's declared schema with its executor's.
 */
import { z, type ZodType } from "zod";

export type JsonSchema = Record<string, unknown>;

/** A schema converter; `createSchemaCache` gives one that converts each schema object once. */
export type ToJsonSchema = (schema: ZodType | undefined) => JsonSchema | null;

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

/**
 * A converter that remembers its results by schema identity, for one compile:
 * workflows often reuse one schema object across many tasks, and `z.toJSONSchema`
 * is by far the costliest step per task. Tasks that share a schema object share
 * the resulting JSON object in the plan (plans are read-only data).
 */
export function createSchemaCache(): ToJsonSchema {
  const cache = new Map<ZodType, JsonSchema | null>();
  return (schema) => {
    if (schema === undefined) return null;
    let json = cache.get(schema);
    if (json === undefined) {
      json = toJsonSchema(schema);
      cache.set(schema, json);
    }
    return json;
  };
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
  return pathway ? literalStrings(pathway) : undefined;
}

/** The strings a schema allows when it is a closed set: `z.enum`, `z.literal`, or a union of them. */
function literalStrings(schema: JsonSchema): string[] | undefined {
  if (Array.isArray(schema.enum)) return schema.enum.filter((v): v is string => typeof v === "string");
  if (typeof schema.const === "string") return [schema.const];
  if (Array.isArray(schema.anyOf)) {
    const out: string[] = [];
    for (const branch of schema.anyOf as JsonSchema[]) {
      const values = literalStrings(branch);
      if (values === undefined) return undefined;
      out.push(...values);
    }
    return out;
  }
  return undefined;
}
