// Waiting that a stop signal can cut short, for the loops that await their work and then sleep
// (STYLE habit 5). The timer and the abort listener are both released either way.
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves after the event loop has had a turn (timers, I/O): a long piece of work awaits it
 * between its steps, so other requests are answered in between.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
