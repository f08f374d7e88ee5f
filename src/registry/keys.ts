/**
 * Executor keys are `namespace/name`. Both parts become NATS subject tokens
 * (`pf.task.<ns>.<name>`), so they may hold only letters, digits, `_` and `-`:
 * no dots, spaces, wildcards or empty parts.
 */
const PART = /^[A-Za-z0-9_-]+$/;

export function checkKeyPart(part: string): string | undefined {
  if (part.length === 0) return "is empty";
  if (!PART.test(part)) return "may only contain letters, digits, '_' and '-' (no dots, spaces, '*', '>' or '/')";
  return undefined;
}

/** Returns a reason the key is invalid, or undefined when it is valid. */
export function checkExecutorKey(key: string): string | undefined {
  const parts = key.split("/");
  if (parts.length !== 2) return `must be "namespace/name" with exactly one "/"`;
  const [ns, name] = parts as [string, string];
  const nsProblem = checkKeyPart(ns);
  if (nsProblem) return `namespace "${ns}" ${nsProblem}`;
  const nameProblem = checkKeyPart(name);
  if (nameProblem) return `name "${name}" ${nameProblem}`;
  return undefined;
}

export function splitExecutorKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
