/**
 * A task message that JetStream delivered `max_deliver` times without an ack (its
 * workers kept dying, or kept being cut off) is never delivered again: the server
 * publishes a MAX_DELIVERIES advisory instead. Left alone, its run would hang. This
 * watcher (one coordinator of the queue group gets each advisory) reads the message
 * by its stream sequence and reports it as a failed attempt of its task, with the
 * attempt's token from the message — a report like a worker's, so the run's holder
 * (whichever coordinator that is) judges it: retryable, the task's own retry policy
 * decides what happens next. Then it deletes the message from the stream. A message
 * that does not parse is terminated the same way (deleted and counted).
 *
 * An advisory alone is not proof. Under load, a nats-server 2.9.10 restarted after
 * SIGKILL sent one 60 ms after coming back, with `deliveries: 5`, for a task that a
 * worker held and kept alive (ack_wait 2 s: five deliveries cannot fit in 60 ms). So
 * before failing an attempt as "delivered N times" the watcher checks that nobody runs
 * it: it listens to the run's live signals, where a worker running an attempt sends a
 * heartbeat every LIVE_HEARTBEAT_MS, and watches the message. A heartbeat of that
 * attempt means it is alive: no failure, and the watch goes on until the message is
 * settled or the attempt falls silent. Only an attempt silent for `quietMs` whose message
 * is still there is reported failed (a late report of its worker, if any, comes after
 * the failure and is ignored as the attempt's second verdict).
 */
import { MaxDeliveriesExceededError } from "../errors/fleet.js";
import { serializeError } from "../errors/serialize.js";
import type { Logger } from "../registry/types.js";
import type { ApiEndpoint, TaskStreamPort } from "../transport/fleet-port.js";
import { undeliverableReason, WIRE_VERSION } from "../transport/messages.js";
import type { Transport } from "../transport/port.js";
import { LIVE_HEARTBEAT_MS } from "../worker/attempt.js";
import { activeKey, type RunStoreKv } from "./run-store.js";

/** How long an attempt named by an advisory must be silent (no live signal) before it counts as exhausted: two heartbeats and some slack. */
export const EXHAUSTED_QUIET_MS = 2 * LIVE_HEARTBEAT_MS + 2_000;
/** How often the watch looks whether the message was settled meanwhile. */
const SETTLED_POLL_MS = 500;

/** Watch the tasks stream for exhausted messages (one coordinator of the group handles each). */
export function watchMaxDeliveries(
  transport: Pick<Transport, "publishReport" | "subscribeLive"> & { readonly taskStream: TaskStreamPort },
  coordinatorId: string,
  logger: Logger,
  counters: { malformed: number },
  runs?: { kv: RunStoreKv; counters: { undeliverable: number } },
  options: { quietMs?: number } = {},
): ApiEndpoint {
  const quietMs = options.quietMs ?? EXHAUSTED_QUIET_MS;
  const tasks = transport.taskStream;
  return tasks.watchExhausted("coordinators", {
    onError: (err) => logger.error({ err }, "the max-deliveries advisory subscription failed; exhausted tasks are left to the watchdog"),
    onMalformed: () => counters.malformed++,
    onExhausted: ({ seq, deliveries }) => {
      void handle(seq, deliveries).catch((e: unknown) => logger.warn({ err: e, seq }, "could not handle a max-deliveries advisory"));
    },
  });

  async function handle(seq: number, deliveries: number): Promise<void> {
    const stored = await tasks.read(seq);
    if (!stored) return; // acked or removed meanwhile
    const decoded = stored.task;
    if (!decoded.ok) {
      counters.malformed++;
      await deleteTask(seq);
      return;
    }
    const task = decoded.value;
    if (undeliverableReason(task) !== undefined || (runs !== undefined && (await runs.kv.active.get(activeKey(task.runId))) === undefined)) {
      // Forged, or its run is unknown or finished: nobody to report to; do not leave it in the stream.
      logger.warn({ runId: task.runId, dispatchId: task.dispatchId, deliveries }, "exhausted task message of no active run deleted");
      if (runs !== undefined) runs.counters.undeliverable++;
      await deleteTask(seq);
      return;
    }
    if ((await silentOrSettled(seq, task)) === "settled") return;
    const error = new MaxDeliveriesExceededError(`${task.state}/${task.task}`, deliveries);
    logger.warn({ runId: task.runId, task: `${task.state}/${task.task}`, attempt: task.attempt, deliveries }, "task exhausted its deliveries: reported as a failed attempt");
    await transport.publishReport({
      v: WIRE_VERSION,
      kind: "report",
      type: "attempt.failed",
      token: task.token,
      runId: task.runId,
      at: Date.now(),
      state: task.state,
      visit: task.visit,
      task: task.task,
      attempt: task.attempt,
      dispatchId: task.dispatchId,
      workerId: `coordinator:${coordinatorId}`,
      error: serializeError(error),
      durationMs: 0,
    });
    // Only once the failure is stored: if publishing failed, the message stays for a later look.
    await deleteTask(seq);
  }

  /**
   * Wait until the attempt of `task` has sent no live signal for `quietMs` ("silent"), or
   * its message left the stream (acked by a worker that held it, or deleted: "settled").
   */
  async function silentOrSettled(seq: number, task: { runId: string; dispatchId: string; attempt: number; state: string; task: string }): Promise<"silent" | "settled"> {
    let lastSign = Date.now();
    let warned = false;
    const sub = await transport.subscribeLive(task.runId, (signal) => {
      if (signal.dispatchId !== task.dispatchId || signal.attempt !== task.attempt) return;
      lastSign = Date.now();
      if (!warned) {
        warned = true;
        logger.warn(
          { runId: task.runId, task: `${task.state}/${task.task}`, attempt: task.attempt, workerId: signal.workerId },
          "max-deliveries advisory for an attempt a worker is still running (after a server restart?): not failed; watching it",
        );
      }
    });
    try {
      for (;;) {
        await new Promise((r) => setTimeout(r, SETTLED_POLL_MS));
        // A look that fails (a request timeout on a loaded server) proves nothing either way: look again.
        const settled = await tasks.read(seq).then(
          (m) => m === undefined,
          (err: unknown) => {
            logger.debug({ err, seq }, "looking whether an exhausted task message was settled failed; looking again");
            return false;
          },
        );
        if (settled) return "settled";
        if (Date.now() - lastSign >= quietMs) return "silent";
      }
    } finally {
      await sub.stop();
    }
  }

  async function deleteTask(seq: number): Promise<void> {
    await tasks.remove(seq).catch((err: unknown) => logger.warn({ err, seq }, "could not delete an exhausted task message"));
  }
}
