import { ConcurrencyError } from '../errors';
import type { TaskServiceDeps } from '../ports';
import { isTerminal, type TaskMessage } from '../task';
import { fail } from './process-task';

const MAX_RACES = 5;

export type DeadLetterOutcome = 'failed' | 'already-terminal' | 'missing';

/**
 * A task message reached its dead-letter queue: no delivery finished it in `maxReceiveCount`
 * tries (the worker kept dying before it could claim or record it). Rather than leave the task
 * queued or running for ever, it fails now, once, with DEAD_LETTERED.
 */
export const failDeadLettered = async (
  deps: Pick<TaskServiceDeps, 'tasks' | 'clock' | 'logger' | 'telemetry'>,
  message: TaskMessage,
  receiveCount: number,
): Promise<DeadLetterOutcome> => {
  for (let race = 0; race < MAX_RACES; race += 1) {
    const task = await deps.tasks.get(message.tenantId, message.taskId);
    if (!task) return 'missing';
    if (isTerminal(task.status)) return 'already-terminal';
    try {
      await fail(deps, task, {
        code: 'DEAD_LETTERED',
        message: `no delivery of the task finished after ${receiveCount} tries; its message went to the dead-letter queue`,
      });
      return 'failed';
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
  throw new ConcurrencyError(`task ${message.taskId} is changing too fast`);
};
