/**
 * How much memory a finished run's record holds, estimated without serializing it, so a
 * coordinator can keep recent records within a byte budget (coordinator.ts). The walk is
 * iterative (a deeply nested output cannot overflow the stack) and counts what V8 spends
 * on plain JSON-like values: object and array headers, a slot per property or element,
 * string bytes, boxed numbers. It is an estimate of the same order as the heap's own
 * figure (tests/integration/coordinator-memory.test.ts measures both), not an exact size.
 */

const OBJECT = 32;
const SLOT = 16;
const ARRAY = 24;
const ELEMENT = 8;
const STRING = 16;
const NUMBER = 16;

/**
 * Estimated heap bytes of a JSON-like value (shared sub-values are counted once).
 *
 * @example
 * estimateBytes({ a: "xyz", b: [1, 2] }); // ~ 150
 */
export function estimateBytes(value: unknown): number {
  let bytes = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    switch (typeof v) {
      case "string":
        bytes += STRING + v.length;
        break;
      case "number":
        bytes += Number.isInteger(v) && Math.abs(v) < 2 ** 30 ? 0 : NUMBER;
        break;
      case "object": {
        if (v === null || seen.has(v)) break;
        seen.add(v);
        if (Array.isArray(v)) {
          bytes += ARRAY + ELEMENT * v.length;
          for (const item of v as unknown[]) stack.push(item);
        } else {
          const entries = Object.values(v as Record<string, unknown>);
          bytes += OBJECT + SLOT * entries.length;
          for (const item of entries) stack.push(item);
        }
        break;
      }
      default:
        break;
    }
  }
  return bytes;
}
