import * as z from 'zod';
import { ConcurrencyError } from '../errors';
import type { Principal } from '../principal';
import { isRedrivable, PrioritySchema, type Priority } from '../task';
import { redrive, retryOnConflict } from '../task-lifecycle';
import { dispatch, type DispatchDeps } from './dispatch';

export const RedriveDeadLettersInputSchema = z
  .object({
    priority: PrioritySchema.describe('The priority whose dead-lettered tasks go back to their queue.'),
    max: z.number().int().min(1).max(100).default(25).describe('At most this many tasks (by tenant, then oldest first); 1 to 100, default 25.'),
  })
  .strict();
export type RedriveDeadLettersInput = z.input<typeof RedriveDeadLettersInputSchema>;

export interface RedriveDeadLettersResult {
  priority: Priority;
  /** Tasks sent back to their queue by this call (call again until it is empty). */
  redriven: { tenantId: string; taskId: string }[];
}

/**
 * Sends tasks that failed with DEAD_LETTERED back to their queue, each at most once in its life:
 * every tenant's when the caller may (`anyTenant`, decided by the access policy), else only its own tenant's. Each task is one conditional write
 * (failed → queued, `redrive` in the lifecycle) and then the ordinary dispatch; a task that moved
 * meanwhile (redriven by a racing call) is skipped. A dispatch that fails is left to the
 * reconciler, which sends every task whose dispatch is pending.
 */
export const redriveDeadLetters = async (
  deps: DispatchDeps,
  principal: Principal,
  rawInput: RedriveDeadLettersInput,
  /** Every tenant's dead letters (the access policy grants it to operators), else the principal's tenant's. */
  { anyTenant = false }: { anyTenant?: boolean } = {},
): Promise<RedriveDeadLettersResult> => {
  const { priority, max } = RedriveDeadLettersInputSchema.parse(rawInput);
  const candidates = await deps.tasks.listRedrivable({ priority, limit: max, ...(anyTenant ? {} : { tenantId: principal.tenantId }) });
  const redriven: RedriveDeadLettersResult['redriven'] = [];
  for (const candidate of candidates) {
    if (!anyTenant && candidate.tenantId !== principal.tenantId) continue;
    const queued = await retryOnConflict(async () => {
      const task = await deps.tasks.get(candidate.tenantId, candidate.taskId);
      return task && isRedrivable(task) ? redrive(deps, task) : undefined;
    }).catch((error: unknown) => {
      if (error instanceof ConcurrencyError) return undefined;
      throw error;
    });
    if (!queued) continue;
    redriven.push({ tenantId: queued.tenantId, taskId: queued.taskId });
    await dispatch(deps, queued).catch((error: unknown) =>
      deps.logger.error('redriven task not dispatched yet: the reconciler will', { taskId: queued.taskId, error: String(error) }),
    );
  }
  deps.logger.warn('dead letters redriven', { priority, by: principal.subject, tenantId: principal.tenantId, anyTenant, count: redriven.length });
  return { priority, redriven };
};
