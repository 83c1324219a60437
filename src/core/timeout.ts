/** A promise bounded in time (a remote store's answer: Redis). */

/**
 * `p`, or a rejection after `ms` (the timer does not keep the process alive and is cleared either way).
 * The rejection waits for the event loop's next poll: after the process itself was busy past `ms` (a long
 * synchronous task, a GC pause), timers run before the loop reads its sockets, and an answer already waiting
 * there would otherwise lose to the timer (a rate limit then decided alone, from local memory).
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'redis'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => setImmediate(() => reject(new Error(`${what} did not answer within ${ms}ms`))), ms);
    timer.unref();
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
