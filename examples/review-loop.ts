/**
 * A review loop that waits for a person: a task drafts a text, a signal node waits for
 * the reviewer's verdict (holding no worker slot, for up to a day), and a route sends
 * the draft back for another revision or on to publishing.
 *
 *   drafting:  draft -> verdict (signal) ; record (after draft and verdict) -> route
 *     approve -> published   (final: the approved draft)
 *     revise  -> drafting    (draft again with the reviewer's note; at most 5 rounds)
 *     expired -> expired     (final: nobody reviewed it within a day)
 *
 * The reviewer sends the verdict from anywhere that reaches NATS, with
 * `phaseflow signal <runId> verdict --payload '{"pathway":"revise","note":"shorter"}' --nats URL`
 * (or `engine.signal(runId, "verdict", payload)` / `client.signal(...)`); README.md
 * "Waiting for people and time" walks through it. A verdict that
 * fails the schema is refused with its issues and changes nothing; one sent before the
 * draft is done waits in the run's history and is taken when `verdict` is reached.
 *
 * Executors: workers/docs.ts (namespace "docs").
 *   phaseflow compile examples/review-loop.ts --executors workers/docs.ts
 */
import { z, workflow } from "phaseflow";

/** The reviewer's verdict: `pathway` picks the next state. */
export const verdictSchema = z.object({
  pathway: z.enum(["approve", "revise"]),
  note: z.string().max(500).default(""),
});

/** A day, the time a reviewer has. */
export const REVIEW_TIMEOUT_MS = 24 * 3_600_000;

export const reviewLoop = workflow("review-loop", {
  version: "1",
  input: z.object({ topic: z.string().min(1), notes: z.array(z.string()).default([]) }),
  description: "draft a text, wait for a reviewer's verdict, revise until approved",
});

const drafting = reviewLoop.state("drafting", { maxVisits: 5, description: "draft, then wait for the reviewer" });
const draft = drafting.task("draft", { executor: "docs/draft", retries: 2, timeoutMs: 30_000 });
const verdict = drafting.signal("verdict", {
  schema: verdictSchema,
  timeoutMs: REVIEW_TIMEOUT_MS,
  // No verdict within a day: route to "expired" instead of failing the run.
  onTimeout: { output: { pathway: "expired", note: "no review within a day" } },
  description: "the reviewer's verdict: phaseflow signal <runId> verdict --payload '{\"pathway\":\"approve\"}'",
});
const record = drafting.task("record", { executor: "docs/record" });
draft.then(verdict);
record.dependsOn(draft, verdict);

const published = reviewLoop.state("published", { description: "the approved text" });
published.task("publish", { executor: "docs/publish" });

const expired = reviewLoop.state("expired", { final: true, description: "nobody reviewed the draft in time" });

drafting.route(record, { approve: published, revise: drafting, expired });
