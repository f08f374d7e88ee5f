// The stall keeper (src/transport/nats/stall-keeper.ts) on a real nats-server: while the main
// thread is blocked, its thread sends "+WPI" to the reply subject of every delivery held
// at that moment, read from shared memory, and to none that was released before; also
// after the table was made anew for more deliveries than its first slots.
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, inject, it } from "vitest";
import { resolveNatsTransportOptions } from "../../src/transport/nats/options.js";
import { startStallKeeper, type StallKeeper } from "../../src/transport/nats/stall-keeper.js";
import type { Logger } from "../../src/registry/types.js";

const url = inject("natsUrl");
const open: { nc?: NatsConnection; keeper?: StallKeeper }[] = [];

afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.keeper?.close();
    await o.nc?.close();
  }
});

/** A logger that keeps its warnings. */
function recordingLogger(): Logger & { warnings: unknown[][] } {
  const warnings: unknown[][] = [];
  const noop = (): void => undefined;
  const logger = { warnings, debug: noop, info: noop, error: noop, warn: (...args: unknown[]) => void warnings.push(args), child: () => logger };
  return logger as unknown as Logger & { warnings: unknown[][] };
}

/** Block this thread's event loop for `ms` (as a synchronous executor would). */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

/** Let the event loop run (deliver what arrived meanwhile). */
const yieldLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

describe("nats stall keeper - keeps held deliveries alive while the main thread is blocked", () => {
  it("nats stall keeper - +WPI goes to every held reply subject and to none released", async () => {
    const nc = await connect({ servers: url, noAsyncTraces: true });
    const logger = recordingLogger();
    const keeper = startStallKeeper(resolveNatsTransportOptions({ servers: url, name: "stall-keeper-test" }), 100, logger);
    open.push({ nc, keeper });
    const base = `stallk${randomBytes(4).toString("hex")}`;
    const got = new Map<string, string>();
    nc.subscribe(`${base}.>`, {
      callback: (_err, m: Msg) => {
        got.set(m.subject, m.string());
      },
    });
    await nc.flush();

    // More deliveries than a first table has slots (64): it is made anew while they are held.
    const ids = Array.from({ length: 100 }, (_, i) => i + 1);
    for (const id of ids) keeper.hold(id, `${base}.${id}`);
    const released = ids.filter((id) => id % 3 === 0);
    for (const id of released) keeper.release(id);
    const kept = ids.filter((id) => id % 3 !== 0).map((id) => `${base}.${id}`);

    // Stall until the thread (which connects in its own time) has kept every held delivery alive.
    for (let i = 0; i < 60 && !kept.every((s) => got.has(s)); i++) {
      block(1_000);
      await yieldLoop();
      await nc.flush();
      await yieldLoop();
    }
    expect(kept.filter((s) => got.get(s) !== "+WPI")).toEqual([]);
    expect(released.map((id) => `${base}.${id}`).filter((s) => got.has(s))).toEqual([]);
    expect(logger.warnings.some(([fields, msg]) => String(msg).includes("event loop is blocked") && (fields as { held?: number }).held === kept.length)).toBe(true);
  });
});
