/** A printable text for any value, for messages about values of any kind (thrown ones too). */

/** A printable text for any value; never throws. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
    case "boolean":
    case "bigint":
    case "undefined":
      return String(value);
    case "symbol":
      try {
        return value.toString();
      } catch {
        return "a symbol";
      }
    default:
      break;
  }
  if (value === null) return "null";
  try {
    const text = JSON.stringify(value);
    if (typeof text === "string") return text;
  } catch {
    // a cycle, a BigInt inside, a throwing toJSON or getter, too deep: fall through
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return "an unprintable value";
  }
}
