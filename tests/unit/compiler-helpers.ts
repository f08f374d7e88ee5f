/** Shared helpers for the compiler tests: compile-and-catch, and a seeded random DAG. */
import { expect } from "vitest";
import { compile, type CompileOptions } from "../../src/compiler/compile.js";
import type { Workflow } from "../../src/dsl/workflow.js";
import { WorkflowValidationError, type ValidationIssue } from "../../src/errors/validation.js";

/** Compile and return the issues of the WorkflowValidationError it must throw. */
export function issuesOf(wf: Workflow<unknown>, options?: CompileOptions): readonly ValidationIssue[] {
  let caught: unknown;
  try {
    compile(wf, options);
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(WorkflowValidationError);
  const err = caught as WorkflowValidationError;
  expect(err.code).toBe("WORKFLOW_INVALID");
  expect(err.workflow).toBe(wf.name);
  return err.issues;
}
