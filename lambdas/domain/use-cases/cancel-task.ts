import { ConcurrencyError, InvalidTransitionError, NotFoundError } from '../errors';
import type { Principal } from '../principal';
import { TaskIdSchema, isTerminal, type TaskStatus } from '../task';
import { cancel, retryOnConflict, type LifecycleDeps } from '../task-lifecycle';
import type { WorkflowEngine } from '../workflow-ports';
import * as z from 'zod';

export const CancelTaskInputSchema = z.object({ taskId: TaskIdSchema.describe('The id submit_task returned.') }).strict();
export type CancelTaskInput = z.infer<typeof CancelTaskInputSchema>;

/**
 * Cancels a queued or running task, or a workflow run (queued, running or waiting for approval). Cancelling a cancelled task answers the same again;
 * a task that already succeeded or failed cannot be cancelled.
 */
export const cancelTask = async (
  deps: LifecycleDeps & { workflows?: WorkflowEngine },
  principal: Principal,
  input: CancelTaskInput,
): Promise<{ taskId: string; status: TaskStatus }> => {
  const { taskId } = CancelTaskInputSchema.parse(input);
  return retryOnConflict(async () => {
    const task = await deps.tasks.get(principal.tenantId, taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    if (task.status === 'cancelled') return { taskId, status: task.status };
    if (isTerminal(task.status)) throw new InvalidTransitionError(`task ${taskId} already ${task.status}`);
    const cancelled = await cancel(deps, task);
    // A run's execution is stopped after the run is cancelled; if that fails, its next step finds the
    // run closed (RunClosed) and the execution ends by itself, without touching the run.
    if (cancelled.execution && deps.workflows) {
      await deps.workflows
        .stop(cancelled.execution.arn, `run cancelled by ${principal.subject}`)
        .catch((error: unknown) => deps.logger.warn('execution not stopped (its next step will find the run cancelled)', { taskId, error: String(error) }));
    }
    return { taskId, status: cancelled.status };
  }).catch((error: unknown) => {
    if (error instanceof ConcurrencyError) throw new ConcurrencyError(`task ${taskId} is changing too fast; try again`);
    throw error;
  });
};
