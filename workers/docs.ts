/**
 * Executors of the `review-loop` example (examples/review-loop.ts), namespace `docs`.
 *
 *   draft   -> a deterministic draft of the topic, one revision per reviewer note so far
 *   record  -> the draft with the reviewer's verdict: `pathway` for the route, the note
 *              appended to `notes` (the next revision's input on "revise")
 *   publish -> the approved text, marked published
 */
import { z, createRegistry } from "phaseflow";

const draftInput = z.object({ topic: z.string().min(1), notes: z.array(z.string()).default([]) });
const draftOutput = z.object({ topic: z.string(), notes: z.array(z.string()), revision: z.number().int(), text: z.string() });
const recordOutput = draftOutput.extend({ pathway: z.string(), note: z.string() });

/** The text of revision `notes.length + 1` of `topic`. */
export function draftText(topic: string, notes: readonly string[]): string {
  const body = `A short note on ${topic}.`;
  return notes.length === 0 ? body : `${body} Revised for: ${notes.join("; ")}.`;
}

export const registry = createRegistry();

registry
  .namespace("docs")
  .register(
    "draft",
    (input: unknown) => {
      const { topic, notes } = draftInput.parse(input);
      return { topic, notes, revision: notes.length + 1, text: draftText(topic, notes) };
    },
    { output: draftOutput },
  )
  .register(
    "record",
    (input: unknown) => {
      // The merge of draft's output and the verdict's payload (the verdict's keys last).
      const merged = input as z.infer<typeof draftOutput> & { pathway: string; note?: string };
      const note = merged.note ?? "";
      const notes = merged.pathway === "revise" && note !== "" ? [...merged.notes, note] : merged.notes;
      return { topic: merged.topic, notes, revision: merged.revision, text: merged.text, pathway: merged.pathway, note };
    },
    { output: recordOutput },
  )
  .register("publish", (input: unknown) => {
    const r = recordOutput.parse(input);
    return { topic: r.topic, revision: r.revision, text: r.text, published: true };
  });
