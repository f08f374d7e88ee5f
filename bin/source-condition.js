// Module resolution hook used only in a clone of the repository (see phaseflow.js):
// adds the "phaseflow-source" condition, so `import ... from "phaseflow"` resolves to
// src/index.ts (package.json "exports") instead of the compiled dist/.
export async function resolve(specifier, context, nextResolve) {
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, "phaseflow-source"] });
}
