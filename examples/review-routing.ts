/**
 * A labelling pipeline routed by a reviewer, in the style of a task-agent runner:
 *
 *   annotate:  fetch -> label -> decide      (decide returns { pathway })
 *     approve  -> publish     (final: publish the label)
 *     reject   -> annotate    (label again, without the rejected label; at most 5 visits)
 *     escalate -> escalated   (final: an expert settles the label)
 *
 * The router's output schema uses `z.enum`, so the compiler checks that every
 * pathway it can return has a target. On a loop, `decide`'s output (item id and the
 * labels rejected so far) is the next visit's input.
 *
 * Executors: workers/review.ts (namespace "review").
 *   phaseflow run examples/review-routing.ts --executors workers/review.ts --input '{"itemId":"item-7"}'
 */
import { z, workflow } from "phaseflow";

const labels = z.enum(["bug", "feature", "question", "docs"]);

/** What the reviewer decides; `pathway` picks the next state. */
const decision = z.object({
  pathway: z.enum(["approve", "reject", "escalate"]),
  itemId: z.string(),
  text: z.string(),
  label: labels,
  rejectedLabels: z.array(z.string()),
  visit: z.number().int(),
  score: z.number().int(),
});

export const reviewRouting = workflow("review-routing", {
  version: "1",
  input: z.object({ itemId: z.string().min(1) }),
  description: "label an item, loop on rejection, escalate when reviewers disagree",
});

const annotate = reviewRouting.state("annotate", { maxVisits: 5, description: "label the item and have it reviewed" });
const fetch = annotate.task("fetch", { executor: "review/fetch", retries: 2, timeoutMs: 5_000 });
const label = annotate.task("label", { executor: "review/label", timeoutMs: 15_000 });
const decide = annotate.task("decide", { executor: "review/decide", output: decision });
fetch.then(label).then(decide);

const publish = reviewRouting.state("publish", { description: "publish the approved label" });
publish.task("publish", { executor: "review/publish", retries: 3 });

const escalated = reviewRouting.state("escalated", { description: "an expert settles the label" });
escalated.task("expert-review", { executor: "review/expert-review", timeoutMs: 60_000 });

annotate.route(decide, { approve: publish, reject: annotate, escalate: escalated });
