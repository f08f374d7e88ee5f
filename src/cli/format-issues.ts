/**
 * Validation issues as the CLI prints them: a header naming the workflow, then one
 * aligned line per issue, `CODE  path  message`, so a long list stays scannable.
 */
import type { WorkflowValidationError } from "../errors/validation.js";

/**
 * @example
 * formatIssues(err)
 * // workflow "broken" is invalid: 2 issues
 * //   CYCLE                       broken/main    tasks of state "main" form a cycle: a -> b -> a; ...
 */
export function formatIssues(err: WorkflowValidationError): string {
  const n = err.issues.length;
  const codeW = Math.max(...err.issues.map((i) => i.code.length));
  const pathW = Math.max(...err.issues.map((i) => i.path.length));
  return [
    `workflow "${err.workflow}" is invalid: ${n} issue${n === 1 ? "" : "s"}`,
    ...err.issues.map((i) => `  ${i.code.padEnd(codeW)}  ${i.path.padEnd(pathW)}  ${i.message}`),
    "",
  ].join("\n");
}
