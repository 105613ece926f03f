import { ConcurrencyError, InvalidTransitionError, NotFoundError } from '../errors';
import { authorize, type Principal } from '../principal';
import { TaskIdSchema, isTerminal, type TaskStatus } from '../task';
import { cancel, retryOnConflict, type LifecycleDeps } from '../task-lifecycle';
import * as z from 'zod';

export const CancelTaskInputSchema = z.object({ taskId: TaskIdSchema.describe('The id submit_task returned.') }).strict();
export type CancelTaskInput = z.infer<typeof CancelTaskInputSchema>;

/**
 * Cancels a queued or running task. Cancelling a cancelled task answers the same again;
 * a task that already succeeded or failed cannot be cancelled.
 */
export const cancelTask = async (
  deps: LifecycleDeps,
  principal: Principal,
  input: CancelTaskInput,
): Promise<{ taskId: string; status: TaskStatus }> => {
  authorize(principal, 'cancel');
  const { taskId } = CancelTaskInputSchema.parse(input);
  return retryOnConflict(async () => {
    const task = await deps.tasks.get(principal.tenantId, taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    if (task.status === 'cancelled') return { taskId, status: task.status };
    if (isTerminal(task.status)) throw new InvalidTransitionError(`task ${taskId} already ${task.status}`);
    const cancelled = await cancel(deps, task);
    return { taskId, status: cancelled.status };
  }).catch((error: unknown) => {
    if (error instanceof ConcurrencyError) throw new ConcurrencyError(`task ${taskId} is changing too fast; try again`);
    throw error;
  });
};
