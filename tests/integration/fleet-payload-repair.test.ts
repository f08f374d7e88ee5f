// A payload object damaged in the store (bytes that do not hash to its name) is refused on
// read (PAYLOAD_CORRUPT); the next upload of the same content, for this run or another,
// sees from the object's info (size, digest) that it is not what its name says and replaces
// it, so a retried task repairs it.
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { afterAll, describe, expect, it } from "vitest";
import { payloadBucketNames } from "../../src/transport/nats/payload-store.js";
import { isPayloadRef, type PayloadRef } from "../../src/transport/payloads.js";
import { useFleet } from "../faults/support.js";

describe("fleet - a damaged payload object is replaced by the next upload of its content", () => {
  const fleet = useFleet("fpayrepair", {});
  let nc: NatsConnection | undefined;
  afterAll(async () => {
    await nc?.close();
  });

  for (const { damage, bytes } of [{ damage: "other bytes of the same size", bytes: 300_000 }, { damage: "bytes of another size", bytes: 299_000 }]) {
    it(`fleet - an object replaced by ${damage} is refused on read, then uploaded again and read back right`, async () => {
      const payloads = fleet.client.transport.payloads;
      const value = { blob: "v".repeat(300_000), damage };
      const ref = (await payloads.reference("repair-1", value, "a test value")) as PayloadRef;
      expect(isPayloadRef(ref)).toBe(true);

      // Damage it behind the store's back: the object under its name now holds other bytes.
      nc ??= await connect({ servers: fleet.url });
      const objects = await new Objm(nc).open(payloadBucketNames(fleet.client.transport.names).objects);
      const other = JSON.stringify({ ...value, blob: "w".repeat(bytes) });
      await objects.putBlob({ name: ref.$pfref.slice("sha256:".length) }, new TextEncoder().encode(other));
      await expect(payloads.resolve(ref)).rejects.toMatchObject({ code: "PAYLOAD_CORRUPT" });

      // Another run uploading the same content (a retried task): the object is replaced.
      expect(await payloads.reference("repair-2", value, "a test value")).toEqual(ref);
      expect(await payloads.resolve(ref)).toEqual(value);
      const stored = (await payloads.list()).find((p) => p.id === ref.$pfref);
      expect([...(stored?.runs ?? [])].sort()).toEqual(["repair-1", "repair-2"]);
      await payloads.release("repair-1");
      await payloads.release("repair-2");
    }, 60_000);
  }
});
