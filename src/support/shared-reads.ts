/**
 * One read per key at a time, shared by everyone who asks meanwhile. A history read
 * replays a whole run (an ordered consumer, every message pulled and decoded); 200
 * concurrent API requests for one run once made 200 such reads at once and wedged the
 * coordinator. Here a caller that arrives while a read of its key is running waits for
 * it and then joins the next read, which every caller arriving in the meantime shares.
 * A burst of N callers costs at most two reads, and each caller still gets a read that
 * began after it asked (never an older view than a read of its own would give).
 */
export class SharedReads<T> {
  private readonly slots = new Map<string, { running: Promise<T>; next: Promise<T> | undefined }>();
  /** Reads actually made (not joined). */
  reads = 0;

  constructor(private readonly read: (key: string) => Promise<T>) {}

  /**
   * Read `key`, or join the next read of it.
   * @example const { messages } = await histories.get(runId);
   */
  get(key: string): Promise<T> {
    const slot = this.slots.get(key);
    if (slot === undefined) {
      const created: { running: Promise<T>; next: Promise<T> | undefined } = { running: Promise.resolve(undefined as never), next: undefined };
      this.slots.set(key, created);
      created.running = this.start(key, created);
      return created.running;
    }
    if (slot.next !== undefined) return slot.next;
    const settled = (): undefined => undefined;
    slot.next = slot.running.then(settled, settled).then(() => {
      const running = this.start(key, slot);
      slot.running = running;
      slot.next = undefined;
      return running;
    });
    return slot.next;
  }

  private start(key: string, slot: { next: Promise<T> | undefined }): Promise<T> {
    this.reads++;
    let read: Promise<T>;
    try {
      read = this.read(key);
    } catch (err) {
      read = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return read.finally(() => {
      // Nobody queued behind this read: the key is free again.
      if (slot.next === undefined && this.slots.get(key) === slot) this.slots.delete(key);
    });
  }
}
