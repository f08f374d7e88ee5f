/**
 * The fold of waits: a task parked on a wait (task.waiting: a signal, a sleep, a child
 * run) and woken (task.waited), the signals sent to the run (signal.received, kept
 * until a wait consumes them, run-waits.ts) and the ends of child runs (child.ended,
 * the first per child, children.ts consumes them).
 */
import type { RunEventOf } from "../../../transport/messages.js";
import type { SignalRecord } from "../run-record-schema.js";
import { isFinished, type RunState } from "./state.js";
import { dropAttempt, taskOf } from "./tasks.js";
import { markVisitTask, settle } from "./visit.js";

/** The events folded here. */
export type WaitEvent = RunEventOf<"task.waiting" | "task.waited" | "signal.received" | "child.ended">;

export function foldWaitEvent(st: RunState, e: WaitEvent): void {
  switch (e.type) {
    case "task.waiting": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "running";
      t.attempts = Math.max(t.attempts, e.attempt);
      t.wait = e.wait;
      if (e.wait.kind === "child") t.child = e.wait.runId;
      t.startedAt ??= e.at;
      delete t.dueAt;
      markVisitTask(st, e, "running");
      break;
    }
    case "task.waited": {
      const t = taskOf(st, e);
      dropAttempt(st, t);
      t.status = "succeeded";
      t.output = e.output;
      t.startedAt ??= e.at;
      t.finishedAt = e.at;
      t.attempts = Math.max(t.attempts, e.attempt);
      delete t.wait;
      delete t.error;
      delete t.dueAt;
      if (e.signal !== undefined) {
        const i = st.signals.findIndex((s) => s.seq === e.signal);
        if (i >= 0) st.signals.splice(i, 1)[0]!.record.consumedBy = t.id;
      }
      settle(st, e, "succeeded", e.output);
      break;
    }
    case "signal.received": {
      if (e.seq > st.through) st.through = e.seq;
      // A repeated id is applied once; a finished run takes no more signals.
      if (st.signalIds.has(e.id) || isFinished(st)) {
        st.refused++;
        break;
      }
      st.signalIds.add(e.id);
      const record: SignalRecord = { name: e.name, id: e.id, at: e.at, seq: e.seq };
      (st.record.signals ??= []).push(record);
      st.signals.push({ seq: e.seq, name: e.name, payload: e.payload, record });
      break;
    }
    case "child.ended": {
      if (e.seq > st.through) st.through = e.seq;
      // The first end of a child counts; a repeat (stored again after a takeover) changes nothing.
      if (st.childEnds.has(e.child)) break;
      st.childEnds.set(e.child, { seq: e.seq, status: e.status, output: e.output, error: e.error });
      break;
    }
  }
}
