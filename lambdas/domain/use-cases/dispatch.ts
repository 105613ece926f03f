import { ConcurrencyError } from '../errors';
import type { TaskServiceDeps } from '../ports';
import type { Task } from '../task';

export type DispatchDeps = Omit<TaskServiceDeps, 'agents'>;

/**
 * The outbox step: send the queue message, then clear the task's `dispatchPending` flag.
 * A crash between the two leaves the flag set, and the reconciler sends again; the FIFO
 * deduplication id (the task id) and the worker's conditional claim make the repeat harmless.
 */
export const dispatch = async (deps: DispatchDeps, task: Task): Promise<Task> => {
  await deps.queue.send({ tenantId: task.tenantId, taskId: task.taskId, priority: task.priority }, task.priority);
  try {
    return await deps.tasks.update(task, { dispatchPending: false }, deps.clock.now());
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    // Someone moved the task on (the worker claimed it, or it was cancelled): the message is out, re-read.
    const latest = await deps.tasks.get(task.tenantId, task.taskId);
    if (latest?.dispatchPending) return deps.tasks.update(latest, { dispatchPending: false }, deps.clock.now());
    return latest ?? task;
  }
};

/** Re-dispatches tasks whose dispatch was never confirmed. Returns how many it sent. */
export const redispatchPending = async (
  deps: DispatchDeps,
  options: { olderThanMs: number; limit: number },
): Promise<number> => {
  const before = new Date(deps.clock.now().getTime() - options.olderThanMs);
  const pending = await deps.tasks.listDispatchPending(before, options.limit);
  let sent = 0;
  for (const task of pending) {
    try {
      await dispatch(deps, task);
      deps.telemetry?.record('redispatched', task);
      sent += 1;
    } catch (error) {
      deps.logger.error('redispatch failed', { taskId: task.taskId, error: String(error) });
    }
  }
  if (sent > 0) deps.logger.warn('redispatched tasks whose first dispatch did not complete', { sent });
  return sent;
};
