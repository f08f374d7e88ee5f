/** A time limit for one bench run, so a stuck run fails the bench instead of hanging it. */

/**
 * Resolve as `promise` does, or reject after `ms` with an error naming `what`.
 * @example const ms = await withTimeout(runOnce(), 120_000, "nats wide run 1");
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms; raise the bench's timeout or look for a stuck run`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
