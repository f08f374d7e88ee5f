/**
 * Executors of the `review-routing` example (examples/review-routing.ts), namespace
 * `review`: a labelling pipeline in the style of a task-agent runner.
 *
 *   fetch         -> the item's text, from a deterministic fake catalogue (hash of the id)
 *   label         -> keyword-scored label, skipping labels a reviewer already rejected
 *   decide        -> a fake reviewer: a hash of (text, label, visit) approves, rejects
 *                    or escalates; after three rejected labels it always escalates
 *   publish       -> marks the approved label as published
 *   expert-review -> an expert picks the label by keyword score, ignoring past rejections
 *
 * On "reject" the route loops back to `annotate`; `decide`'s output (with the
 * rejected labels so far) becomes the state's next input. `expectedReview` replays
 * the same rules without the executors, for tests.
 */
import { z, createRegistry } from "phaseflow";
import { fnv1a, mulberry32, pick } from "./lib/prng.js";

export const LABELS = ["bug", "feature", "question", "docs"] as const;
export type Label = (typeof LABELS)[number];
/** After this many rejected labels the reviewer escalates instead of rejecting again. */
export const MAX_REJECTIONS = 3;

const FRAGMENTS: Record<Label, readonly string[]> = {
  bug: ["the app crashes when I save", "I get an error and a stack trace", "login is broken since the update", "export fails with a timeout error"],
  feature: ["it would be great to add dark mode", "please add an export to CSV", "could you support SSO", "a new option to batch edit would help"],
  question: ["how do I change my password", "is it possible to undo a delete", "why does sync take so long", "what is the limit on uploads"],
  docs: ["the readme has a typo", "the guide skips the install step", "the API docs are out of date", "the tutorial link is dead"],
};
const KEYWORDS: Record<Label, readonly string[]> = {
  bug: ["crash", "error", "broken", "fails", "trace"],
  feature: ["add", "support", "would", "new", "option"],
  question: ["how", "why", "what", "possible", "?"],
  docs: ["readme", "guide", "docs", "tutorial", "typo"],
};

export const reviewInputSchema = z.object({ itemId: z.string().min(1) });
const fetchInput = z.object({ itemId: z.string().min(1), rejectedLabels: z.array(z.string()).optional() });
const fetchOutput = z.object({ itemId: z.string(), text: z.string(), rejectedLabels: z.array(z.string()) });
const labelOutput = fetchOutput.extend({ label: z.enum(LABELS), confidence: z.number() });
export const decisionSchema = z.object({
  pathway: z.enum(["approve", "reject", "escalate"]),
  itemId: z.string(),
  text: z.string(),
  label: z.enum(LABELS),
  rejectedLabels: z.array(z.string()),
  visit: z.number().int(),
  score: z.number().int(),
});
export type Decision = z.infer<typeof decisionSchema>;
export const outcomeSchema = z.object({
  itemId: z.string(),
  label: z.enum(LABELS),
  status: z.enum(["published", "escalated"]),
  visits: z.number().int(),
  rejectedLabels: z.array(z.string()),
});
export type Outcome = z.infer<typeof outcomeSchema>;

/** The catalogue's text for an item: two or three fragments picked by the id's hash. */
export function itemText(itemId: string): string {
  const rng = mulberry32(fnv1a(itemId));
  const main = pick(rng, LABELS);
  const parts = [pick(rng, FRAGMENTS[main]), pick(rng, FRAGMENTS[pick(rng, LABELS)])];
  if (rng() < 0.5) parts.push(pick(rng, FRAGMENTS[pick(rng, LABELS)]));
  return parts.join("; ");
}

/** Keyword hits per label. */
export function scores(text: string): Record<Label, number> {
  const lower = text.toLowerCase();
  const out = {} as Record<Label, number>;
  for (const l of LABELS) out[l] = KEYWORDS[l].reduce((n, k) => n + lower.split(k).length - 1, 0);
  return out;
}

/** Highest-scoring label not in `exclude` (ties go to the earlier label of LABELS). */
export function bestLabel(text: string, exclude: readonly string[]): { label: Label; confidence: number } {
  const s = scores(text);
  const total = LABELS.reduce((n, l) => n + s[l], 0);
  const candidates = LABELS.filter((l) => !exclude.includes(l));
  const label = candidates.reduce((best, l) => (s[l] > s[best] ? l : best), candidates[0] ?? "question");
  return { label, confidence: total === 0 ? 0 : Math.round((s[label] / total) * 100) / 100 };
}

/** The reviewer's verdict: 0-54 approve, 55-87 reject (escalate once 3 labels were rejected), 88-99 escalate. */
export function verdict(text: string, label: string, visit: number, rejected: number): { pathway: Decision["pathway"]; score: number } {
  const score = fnv1a(`${text}|${label}|${visit}`) % 100;
  if (score < 55) return { pathway: "approve", score };
  if (score < 88 && rejected < MAX_REJECTIONS) return { pathway: "reject", score };
  return { pathway: "escalate", score };
}

export const registry = createRegistry();

registry
  .namespace("review")
  .register(
    "fetch",
    (input: z.infer<typeof fetchInput>) => ({ itemId: input.itemId, text: itemText(input.itemId), rejectedLabels: input.rejectedLabels ?? [] }),
    { input: fetchInput, output: fetchOutput, description: "load the item from the catalogue" },
  )
  .register(
    "label",
    (input: z.infer<typeof fetchOutput>) => ({ ...input, ...bestLabel(input.text, input.rejectedLabels) }),
    { input: fetchOutput, output: labelOutput, description: "label the item by keyword score" },
  )
  .register(
    "decide",
    (input: z.infer<typeof labelOutput>, ctx): Decision => {
      const { pathway, score } = verdict(input.text, input.label, ctx.visit, input.rejectedLabels.length);
      const rejectedLabels = pathway === "reject" ? [...input.rejectedLabels, input.label] : input.rejectedLabels;
      return { pathway, itemId: input.itemId, text: input.text, label: input.label, rejectedLabels, visit: ctx.visit, score };
    },
    { input: labelOutput, output: decisionSchema, description: "a reviewer approves, rejects or escalates the label" },
  )
  .register(
    "publish",
    (input: Decision): Outcome => ({ itemId: input.itemId, label: input.label, status: "published", visits: input.visit, rejectedLabels: input.rejectedLabels }),
    { input: decisionSchema, output: outcomeSchema, description: "publish the approved label" },
  )
  .register(
    "expert-review",
    (input: Decision): Outcome => ({
      itemId: input.itemId,
      label: bestLabel(input.text, []).label,
      status: "escalated",
      visits: input.visit,
      rejectedLabels: input.rejectedLabels,
    }),
    { input: decisionSchema, output: outcomeSchema, description: "an expert settles the label" },
  );

/**
 * Replays the review loop for an item without the executors: the final state,
 * the run's output and the pathway taken on each visit of `annotate`.
 * @example expectedReview({ itemId: "item-3" }).state // "publish" or "escalated"
 */
export function expectedReview(input: { itemId: string }): { state: "publish" | "escalated"; output: Outcome; pathways: Decision["pathway"][] } {
  const text = itemText(input.itemId);
  const rejected: string[] = [];
  const pathways: Decision["pathway"][] = [];
  for (let visit = 1; ; visit++) {
    const { label } = bestLabel(text, rejected);
    const { pathway } = verdict(text, label, visit, rejected.length);
    pathways.push(pathway);
    if (pathway === "reject") {
      rejected.push(label);
      continue;
    }
    const finalLabel = pathway === "approve" ? label : bestLabel(text, []).label;
    const status = pathway === "approve" ? "published" : "escalated";
    return { state: pathway === "approve" ? "publish" : "escalated", output: { itemId: input.itemId, label: finalLabel, status, visits: visit, rejectedLabels: [...rejected] }, pathways };
  }
}
