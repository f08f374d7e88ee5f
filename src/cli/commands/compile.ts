/**
 * `phaseflow compile <file>`: the dry run. Loads a workflow module, compiles it
 * (against the executor registries the module exports and those of `--executors`
 * modules, when there are any: that checks every executor exists and schemas agree), and prints the plan
 * as text, JSON, mermaid or graphviz. It starts nothing and connects to nothing.
 * Invalid definitions throw `WorkflowValidationError`; the dispatcher prints every
 * issue and exits 1.
 */
import { compile, type CompileOptions } from "../../compiler/compile.js";
import { UsageError } from "../../errors/base.js";
import { defineCommand } from "../command.js";
import { EXIT_OK } from "../exit-codes.js";
import { formatPlanDot } from "../format-dot.js";
import { formatPlanMermaid } from "../format-mermaid.js";
import { formatPlanText } from "../format-text.js";
import { formatTriggersText } from "../format-triggers.js";
import { loadWorkflow } from "../load-module.js";
import { collectExecutors } from "../run-executors.js";

export const compileCommand = defineCommand({
  name: "compile",
  summary: "Compile a workflow and print its phases without running anything (dry run)",
  usage: "<file> [--workflow NAME] [--executors FILE]... [--json | --mermaid | --dot]",
  details: [
    "<file> is a .ts or .js module exporting the workflow. The default output lists each state's",
    "phases (tasks that can run in parallel), transitions or route, critical path and widest phase.",
    "",
    "Exit codes: 0 the workflow is valid, 1 it has issues (all are printed), 2 bad usage or input.",
  ].join("\n"),
  flags: {
    workflow: { type: "string", valueName: "NAME", description: "the workflow to compile when <file> exports several" },
    executors: { type: "string", multiple: true, valueName: "FILE", description: "check executors and their schemas against the registries FILE exports" },
    json: { type: "boolean", description: "print the plan as JSON" },
    mermaid: { type: "boolean", description: "print a mermaid flowchart" },
    dot: { type: "boolean", description: "print a graphviz digraph" },
  },
  positionals: { min: 1, max: 1, missing: "missing the workflow file, e.g. phaseflow compile examples/etl.ts" },
  async run({ values, positionals }, io) {
    const formats = (["json", "mermaid", "dot"] as const).filter((f) => values[f] === true);
    if (formats.length > 1) {
      throw new UsageError(`${formats.map((f) => `--${f}`).join(" and ")} cannot be combined; pick one output format`);
    }
    const cwd = io.cwd ?? process.cwd();
    const { module, workflow } = await loadWorkflow(positionals[0]!, { cwd, workflow: values.workflow });
    // The registries the module exports count too, as for `run`: with any, executors are checked.
    const options: CompileOptions = {};
    if (values.executors !== undefined || module.registries.length > 0) options.registry = await collectExecutors(module, values.executors ?? [], cwd);
    const plan = compile(workflow, options);
    const format = formats[0];
    const out =
      format === "json" ? `${JSON.stringify(plan, null, 2)}\n`
      : format === "mermaid" ? formatPlanMermaid(plan)
      : format === "dot" ? formatPlanDot(plan)
      : formatPlanText(plan) + formatTriggersText(workflow, Date.now());
    io.stdout.write(out);
    return EXIT_OK;
  },
});
