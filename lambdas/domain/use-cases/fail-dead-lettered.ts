import type { TaskMessage } from '../task';
import { DEAD_LETTERED, isTerminal } from '../task';
import { fail, retryOnConflict, type LifecycleDeps } from '../task-lifecycle';

/** `stale`: the copy of a promoted task from its old queue; the task's own message is in its new queue. */
export type DeadLetterOutcome = 'failed' | 'already-terminal' | 'missing' | 'stale';

/**
 * A task message reached its dead-letter queue: no delivery finished it in `maxReceiveCount`
 * tries (the worker kept dying before it could claim or record it). Rather than leave the task
 * queued or running for ever, it fails now, once, with DEAD_LETTERED. An operator may redrive it
 * once (`redriveDeadLetters`); a task dead-lettered after its redrive stays failed for good.
 */
export const failDeadLettered = (deps: LifecycleDeps, message: TaskMessage, receiveCount: number): Promise<DeadLetterOutcome> =>
  retryOnConflict(async () => {
    const task = await deps.tasks.get(message.tenantId, message.taskId);
    if (!task) return 'missing';
    if (isTerminal(task.status)) return 'already-terminal';
    if (message.priority !== task.priority) return 'stale';
    await fail(deps, task, {
      code: DEAD_LETTERED,
      message:
        `no delivery of the task finished after ${receiveCount} tries; its message went to the dead-letter queue` +
        (task.redrivenAt !== undefined ? ' again after its redrive: final' : ''),
    });
    return 'failed';
  });
