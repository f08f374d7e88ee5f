/**
 * The one mapping of zod issues to the errors module's plain `SchemaIssue`s (a path and
 * a message each), for every schema check: options, workflow and task input and output,
 * signal payloads, wire messages. `formatIssues` is the one way of writing them on a line.
 */
import type { SchemaIssue } from "../errors/base.js";

/** zod issues (or anything shaped like them) as `SchemaIssue`s. */
export function toSchemaIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): SchemaIssue[] {
  return issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), message: i.message }));
}

/**
 * Issues on one line: `path: message; path: message`, with `root` naming an issue of the
 * whole value.
 * @example formatIssues(toSchemaIssues(parsed.error.issues), "(options)") // "concurrency: Too small: expected number to be >=1"
 */
export function formatIssues(issues: readonly SchemaIssue[], root = "(root)"): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.join(".") : root}: ${i.message}`).join("; ");
}
