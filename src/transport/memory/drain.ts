/**
 * Asynchronous delivery for the memory transport's histories and broadcasts,
 * batched: jobs queued while nothing is pending start one microtask drain (no
 * `setImmediate` per message: a report reaches its coordinator within the same
 * turn of the event loop, far cheaper than a network round trip). Jobs queued by
 * the jobs of a drain run in the next one, after a `setImmediate`, so a cascade of
 * handlers that publish again cannot starve timers and I/O.
 *
 * Jobs run in the order they were queued, so one subscriber sees messages in the
 * order they were stored.
 */
export class Drain {
  private jobs: (() => void)[] = [];
  private scheduled = false;
  private closed = false;

  constructor(private readonly jobFailed: (err: unknown) => void) {}

  schedule(job: () => void): void {
    if (this.closed) return;
    this.jobs.push(job);
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(this.run);
  }

  close(): void {
    this.closed = true;
    this.jobs = [];
  }

  private readonly run = (): void => {
    const jobs = this.jobs;
    this.jobs = [];
    for (const job of jobs) {
      try {
        job();
      } catch (err) {
        this.jobFailed(err);
      }
    }
    if (this.jobs.length > 0 && !this.closed) setImmediate(this.run);
    else this.scheduled = false;
  };
}
