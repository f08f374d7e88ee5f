/**
 * Sending a signal to a run (README "Waiting for people and time"): the checks every sender makes before anything
 * is stored — `engine.signal`, and the coordinator API behind `client.signal` and
 * `phaseflow signal` — and the stored message itself.
 *
 * A signal is refused, changing nothing, when its name is no signal of the run's
 * workflow (SIGNAL_UNKNOWN), the run has ended (SIGNAL_RUN_FINISHED), or its payload
 * fails the schema of a signal node waiting for that name (SIGNAL_PAYLOAD_INVALID, with
 * the issues; a payload over `inlineBytes`, sent as a payload reference, is checked on its
 * value just the same). A signal whose id the run has folded already is a duplicate: it is not
 * stored again (and the fold would drop it anyway). Once stored it is durable: it is in
 * the run's history whether or not a coordinator is up, and the run's decider consumes
 * it when a signal node of that name is (or gets) waiting.
 */
import { randomBase64Url } from "../../support/hash.js";
import { SignalPayloadInvalidError, SignalRefusedError } from "../../errors/waits.js";
import type { Plan } from "../../plan/schema.js";
import { WIRE_VERSION, signalNameSchema, type SignalMessage } from "../../transport/messages.js";
import { toSchemaIssues } from "../../support/schema-issues.js";
import type { Definitions } from "./definition.js";
import { holdsPayload } from "./schema-check.js";
import { isFinished, type RunState } from "./run-state.js";

export interface SendSignalOptions {
  /** Makes sending idempotent: a second signal with the same id is applied once. Default: a random id. */
  id?: string;
}

export interface SignalSent {
  runId: string;
  name: string;
  id: string;
  /** The run already had a signal with this id: nothing was stored. */
  duplicate: boolean;
}

/** The signal names a plan waits for, sorted. */
export function signalNamesOf(plan: Plan): string[] {
  const names = new Set<string>();
  for (const s of plan.states) for (const t of s.tasks) if (t.wait?.kind === "signal") names.add(t.wait.signal);
  return [...names].sort();
}

export const newSignalId = (): string => `sig_${randomBase64Url(12)}`;

/**
 * Check a signal for a run (folded with or without a model) and build its stored message;
 * `"duplicate"` when the run has that id already.
 * @throws SignalRefusedError, SignalPayloadInvalidError
 * @example const msg = prepareSignal({ state, plan, defs, name: "verdict", payload: { ok: true }, now: Date.now() });
 */
export function prepareSignal(args: {
  state: RunState;
  plan: Plan;
  defs: Definitions;
  name: string;
  /** As stored: the value, or a payload reference to it (transport/payloads.ts). */
  payload: unknown;
  /** The value of a `payload` that holds payload references (`Payloads.resolve`), which its schema checks. */
  opened?: { value: unknown } | undefined;
  id?: string | undefined;
  now: number;
}): SignalMessage | "duplicate" {
  const { state, plan, defs, name, payload } = args;
  const runId = state.runId;
  const id = args.id ?? newSignalId();
  for (const [what, value] of [["name", name], ["id", id]] as const) {
    const ok = signalNameSchema.safeParse(value);
    if (!ok.success) throw new SignalRefusedError("SIGNAL_INVALID", `signal ${what} ${JSON.stringify(value)} ${ok.error.issues[0]?.message ?? "is invalid"}`);
  }
  // Sending again with the same id is harmless, also once the run has ended.
  if (state.signalIds.has(id)) return "duplicate";
  if (isFinished(state)) throw new SignalRefusedError("SIGNAL_RUN_FINISHED", `run "${runId}" has ended (${state.record.status}); it takes no more signals`);
  const nodes = plan.states.flatMap((s) => s.tasks.filter((t) => t.wait?.kind === "signal" && t.wait.signal === name).map((t) => ({ state: s.name, task: t.name })));
  if (nodes.length === 0) {
    const known = signalNamesOf(plan);
    throw new SignalRefusedError("SIGNAL_UNKNOWN", `workflow "${plan.workflow}" has no signal "${name}"${known.length > 0 ? `; its signals: ${known.join(", ")}` : "; it declares no signal nodes (state.signal(...))"}`);
  }
  // A payload over inlineBytes arrives as a payload reference: it is checked on its value, which the caller fetched.
  const held = holdsPayload(payload);
  if (held && args.opened === undefined) throw new SignalRefusedError("SIGNAL_INVALID", `the payload of signal "${name}" holds a payload reference ({ $pfref }), but no payload store is here to open it; send the value itself`);
  const value = held ? args.opened!.value : payload;
  for (const n of nodes) {
    const parsed = defs.taskOutput(n.state, n.task)?.safeParse(value);
    if (parsed && !parsed.success) throw new SignalPayloadInvalidError(runId, name, toSchemaIssues(parsed.error.issues));
  }
  const message: SignalMessage = { v: WIRE_VERSION, kind: "signal", type: "signal.received", runId, at: args.now, name, id };
  if (payload !== undefined) message.payload = payload;
  return message;
}
