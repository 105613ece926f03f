/**
 * Runs `work` for at most `limitMs`: when the limit passes, the signal handed to `work` aborts with
 * `onTimeout()`'s error and the returned promise rejects with it (work that ignores its signal is
 * left behind, its result discarded). An `outer` signal (a cancelled task) aborts the work too,
 * without rejecting here: the work decides how it ends.
 *
 * The shape `toAgent` (lambdas/agents/agent.ts) bounds a module's run with; both limits compose,
 * the shorter wins.
 */
export const withTimeLimit = async <T>(
  work: (signal: AbortSignal) => Promise<T>,
  limitMs: number,
  onTimeout: () => Error,
  outer?: AbortSignal,
): Promise<T> => {
  const controller = new AbortController();
  const onAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work(controller.signal),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = onTimeout();
          controller.abort(error);
          reject(error);
        }, limitMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
};
