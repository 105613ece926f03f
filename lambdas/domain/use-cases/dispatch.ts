import { deduplicationIdOf, messageGroupOf } from '../message-group';
import type { TaskServiceDeps } from '../ports';
import type { Task } from '../task';
import { confirmDispatch, retryOnConflict } from '../task-lifecycle';

export type DispatchDeps = Omit<TaskServiceDeps, 'agents'>;

/**
 * The outbox step: send the queue message, then clear the task's `dispatchPending` flag.
 * A crash between the two leaves the flag set, and the reconciler sends again; the FIFO
 * deduplication id (the task id; after a redrive, a new one) and the worker's conditional claim make the repeat harmless.
 * Any number of callers may dispatch the same task at once (racing replays of one idempotency
 * key, the reconciler, the worker's claim): whoever loses the race to clear the flag re-reads,
 * and finds it cleared.
 */
export const dispatch = async (deps: DispatchDeps, task: Task): Promise<Task> => {
  await deps.queue.send({ tenantId: task.tenantId, taskId: task.taskId, priority: task.priority }, task.priority, messageGroupOf(task), deduplicationIdOf(task));
  let latest = task;
  return retryOnConflict(async () => {
    if (!latest.dispatchPending) return latest;
    try {
      return await confirmDispatch(deps, latest);
    } catch (error) {
      latest = (await deps.tasks.get(task.tenantId, task.taskId)) ?? latest;
      throw error;
    }
  }, 20);
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
