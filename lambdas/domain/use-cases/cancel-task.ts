import { ConcurrencyError, InvalidTransitionError, NotFoundError } from '../errors';
import type { TaskServiceDeps } from '../ports';
import { authorize, type Principal } from '../principal';
import { GetTaskInputSchema, type GetTaskInput } from './read-tasks';
import { isTerminal, type TaskStatus } from '../task';

const MAX_RACES = 5;

/**
 * Cancels a queued or running task. Cancelling a cancelled task answers the same again;
 * a task that already succeeded or failed cannot be cancelled.
 */
export const cancelTask = async (
  deps: Pick<TaskServiceDeps, 'tasks' | 'clock' | 'logger' | 'telemetry'>,
  principal: Principal,
  input: GetTaskInput,
): Promise<{ taskId: string; status: TaskStatus }> => {
  authorize(principal, 'cancel');
  const { taskId } = GetTaskInputSchema.parse(input);
  for (let race = 0; race < MAX_RACES; race += 1) {
    const task = await deps.tasks.get(principal.tenantId, taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    if (task.status === 'cancelled') return { taskId, status: task.status };
    if (isTerminal(task.status)) throw new InvalidTransitionError(`task ${taskId} already ${task.status}`);
    try {
      const updated = await deps.tasks.update(task, { status: 'cancelled', removeLease: true }, deps.clock.now());
      deps.telemetry?.record('cancelled', task);
      deps.logger.info('task cancelled', { tenantId: task.tenantId, taskId, from: task.status });
      return { taskId, status: updated.status };
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
  throw new ConcurrencyError(`task ${taskId} is changing too fast; try again`);
};
