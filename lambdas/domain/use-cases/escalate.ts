import { ConcurrencyError } from '../errors';
import { isPromotable, PRIORITIES, type Priority, type Task } from '../task';
import { promote, retryOnConflict } from '../task-lifecycle';
import { dispatch, type DispatchDeps } from './dispatch';

/** Per level below critical, how long a queued task may wait there before it moves one level up. */
export type AgingMs = Record<Exclude<Priority, 'critical'>, number>;

/**
 * Scheduled (with the reconciler): each queued task that waited at its level longer than the
 * level's SLA, or whose deadline is closer than that SLA, moves one level up (`promote`, one
 * conditional write) and is dispatched to the new level's queue. A task promoted by a racing run,
 * claimed, or cancelled meanwhile is skipped; a dispatch that fails is the reconciler's. The copy
 * left in the lower queue is discarded by the worker, so the task runs once. Lowest level first,
 * so a task moves at most one level per run. Returns the tasks promoted.
 */
export const escalateAged = async (deps: DispatchDeps, options: { agingMs: AgingMs; limit: number }): Promise<Task[]> => {
  const now = deps.clock.now().getTime();
  const promoted: Task[] = [];
  const levels = [...PRIORITIES].reverse().filter((p): p is keyof AgingMs => p !== 'critical');
  const queries = levels.map((priority) => ({
    priority,
    waitingBefore: new Date(now - options.agingMs[priority]),
    deadlineBefore: new Date(now + options.agingMs[priority]),
    limit: options.limit,
  }));
  const candidates = (await Promise.all(queries.map((query) => deps.tasks.listPromotable(query)))).map((tasks, i) => ({ tasks, query: queries[i]! }));
  for (const { tasks, query } of candidates) {
    for (const candidate of tasks) {
      const moved = await retryOnConflict(async () => {
        const task = await deps.tasks.get(candidate.tenantId, candidate.taskId);
        if (!task || !isPromotable(task, query)) return undefined;
        const nearDeadline = task.deadline !== undefined && Date.parse(task.deadline) < query.deadlineBefore.getTime();
        return promote(deps, task, nearDeadline ? 'deadline' : 'aged');
      }).catch((error: unknown) => {
        if (error instanceof ConcurrencyError) return undefined;
        throw error;
      });
      if (!moved) continue;
      promoted.push(moved);
      await dispatch(deps, moved).catch((error: unknown) =>
        deps.logger.error('promoted task not dispatched yet: the reconciler will', { taskId: moved.taskId, error: String(error) }),
      );
    }
  }
  if (promoted.length > 0) deps.logger.warn('queued tasks promoted', { count: promoted.length });
  return promoted;
};
