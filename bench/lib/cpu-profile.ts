/**
 * Where the time goes: a summary of a V8 `.cpuprofile` (written by `node --cpu-prof`)
 * as self time per module (a phaseflow source file, an npm package, node internals,
 * GC, idle) and the hottest functions, self and inclusive. Used to explain a bench
 * that is far off its baseline.
 *
 * Run: `npx tsx bench/lib/cpu-profile.ts <file.cpuprofile>... [--top N]`.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  /** Profiled wall time, ms. */
  totalMs: number;
  /** Self ms per module, largest first. */
  modules: { module: string; ms: number }[];
  /** Self ms per function, largest first. */
  self: { fn: string; ms: number }[];
  /** Inclusive ms per function (each sample counted once per function), largest first. */
  inclusive: { fn: string; ms: number }[];
}

/** `src/runtime/outbox.ts`, `npm:@nats-io/jetstream`, `node:internal`, or the V8 pseudo-frame name. */
export function moduleOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node:internal";
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "/node_modules/".length).split("/");
    return `npm:${rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.search(/\/(src|bench|tests|workers)\//);
  return src >= 0 ? url.slice(src + 1) : url;
}

function fnName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  return `${functionName || "(anonymous)"} ${moduleOf(url, functionName)}:${lineNumber + 1}`;
}

/**
 * Summarize one profile.
 * @example const s = summarizeCpuProfile(JSON.parse(readFileSync(file, "utf8"))); s.modules[0]
 */
export function summarizeCpuProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? deltas[i] ?? 0;
    selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + dt);
  }
  const modules = new Map<string, number>();
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const mod = moduleOf(node.callFrame.url, node.callFrame.functionName);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
    const name = fnName(node);
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = fnName(byId.get(cur)!);
      if (seen.has(n)) continue;
      seen.add(n);
      inclusive.set(n, (inclusive.get(n) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>, key: "module" | "fn") =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ [key]: k, ms: us / 1000 }) as { module: string; fn: string; ms: number });
  return { totalMs: (profile.endTime - profile.startTime) / 1000, modules: sorted(modules, "module"), self: sorted(self, "fn"), inclusive: sorted(inclusive, "fn") };
}

/** The summary as text: `top` rows of each list. */
export function formatProfileSummary(s: ProfileSummary, top = 25): string {
  const rows = (list: { ms: number }[], label: (r: never) => string) => list.slice(0, top).map((r) => `  ${r.ms.toFixed(0).padStart(7)} ms  ${label(r as never)}`);
  return [
    `profiled ${s.totalMs.toFixed(0)} ms`,
    "self time by module:",
    ...rows(s.modules, (r: { module: string }) => r.module),
    "self time by function:",
    ...rows(s.self, (r: { fn: string }) => r.fn),
    "inclusive time by function:",
    ...rows(s.inclusive, (r: { fn: string }) => r.fn),
  ].join("\n");
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf("--top");
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const files = args.filter((_, i) => topAt < 0 || (i !== topAt && i !== topAt + 1));
  for (const file of files) {
    console.log(`\n== ${file}`);
    console.log(formatProfileSummary(summarizeCpuProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile), top));
  }
}
