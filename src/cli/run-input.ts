/**
 * The run input of `phaseflow run`: `--input` is JSON text, or `@path` naming a JSON
 * file (relative to the working directory). It is checked against the workflow's
 * input schema here, before anything starts, so a bad input is reported with every
 * issue's path and exit code 2 — embedded and over NATS alike.
 *
 * Without `--input`, a workflow with an input schema gets `{}` (so the schema's
 * defaults apply) and one without gets no input at all.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Workflow } from "../dsl/workflow.js";
import { InputValidationError, UsageError } from "../errors/base.js";
import { toSchemaIssues } from "../support/schema-issues.js";

/**
 * Parse the `--input` flag value: JSON text or `@file.json`. Undefined when absent.
 * @throws UsageError on unreadable files and invalid JSON
 * @example readRunInput('{"day":"2026-11-01"}', process.cwd()) // { day: "2026-11-01" }
 */
export function readRunInput(flag: string | undefined, cwd: string, name = "--input", example = `'{"day":"2026-11-01"}'`): unknown {
  if (flag === undefined) return undefined;
  if (flag.startsWith("@")) {
    const file = flag.slice(1);
    if (file === "") throw new UsageError(`${name} "@" names no file; pass ${name} @path/to/file.json`);
    const path = resolve(cwd, file);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat === undefined) throw new UsageError(`${name} file "${file}" does not exist (looked for ${path}); check the path, which is relative to the current directory`);
    if (!stat.isFile()) throw new UsageError(`${name} "${file}" is not a file; pass ${name} @path/to/file.json`);
    return parseJson(readFileSync(path, "utf8"), `${name} file "${file}"`, name, example);
  }
  return parseJson(flag, name, name, example);
}

function parseJson(text: string, what: string, name: string, example: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new UsageError(`${what} is not valid JSON (${reason}); pass a JSON value, e.g. ${name} ${example}, or a file with ${name} @file.json`);
  }
}

/**
 * The input to send for `raw` (the parsed `--input`, or undefined): checked against the
 * workflow's input schema. The raw value is what is sent (the engine or coordinator
 * parses it again and applies defaults); `{}` stands in for a missing input when the
 * workflow has a schema.
 * @throws InputValidationError listing every issue with its path
 * @example checkRunInput(etl, { day: "2026-11-01", rows: 5, seed: 1 })
 */
export function checkRunInput(workflow: Workflow<unknown>, raw: unknown): unknown {
  const schema = workflow.options.input;
  if (schema === undefined) return raw;
  const value = raw === undefined ? {} : raw;
  const checked = schema.safeParse(value);
  if (!checked.success) {
    throw new InputValidationError(
      workflow.name,
      toSchemaIssues(checked.error.issues),
    );
  }
  return value;
}

/** The report of an input that failed the schema: every issue, then the fix. */
export function formatInputIssues(err: InputValidationError): string {
  return `${err.message}\nfix the input to match the workflow's input schema (--input JSON or --input @file.json); nothing was run\n`;
}
