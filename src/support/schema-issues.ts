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

/** Issues on one line (the errors module defines it: errors stand below everything, this module included). */
export { formatIssues } from "../errors/base.js";
