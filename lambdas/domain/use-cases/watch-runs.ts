import { RUN_ERRORS } from '../../contracts/workflows';
import { ConcurrencyError } from '../errors';
import { isTerminal, type Task } from '../task';
import { fail, retryOnConflict, startedExecution, type LifecycleDeps } from '../task-lifecycle';
import type { WorkflowEngine } from '../workflow-ports';

/** Executions a run may have in all (the first and its resumes). */
export const MAX_RUN_STARTS = 3;
/** A run whose execution cannot be described (Express on AWS) is presumed lost after this long without a change. */
export const UNDESCRIBED_RUN_LOST_MS = 6 * 60_000;

export type WatchRunsDeps = LifecycleDeps & { workflows: WorkflowEngine };
export type WatchOutcome = 'running' | 'resumed' | 'failed' | 'moved';

/**
 * The reconciler's watch over workflow runs: a run whose execution ended without recording its
 * end (what no Catch in a state machine can catch: a States.Runtime error, the run's own timeout,
 * a StopExecution from outside, a local runtime that was killed) never hangs.
 *  - aborted (the engine stopped under it) or not found after a while: resumed as a new execution
 *    (`<run>-r<n>`), whose steps that already succeeded return their recorded outputs without running
 *    again, at most MAX_RUN_STARTS executions in all;
 *  - failed or timed out: the run fails with WORKFLOW_FAILED and the engine's error.
 * Each change is one conditional write: a run that moved meanwhile (finished, cancelled) is left as it is.
 */
export const watchRuns = async (deps: WatchRunsDeps, options: { limit: number }): Promise<Record<WatchOutcome, number>> => {
  const counts: Record<WatchOutcome, number> = { running: 0, resumed: 0, failed: 0, moved: 0 };
  for (const run of await deps.tasks.listLiveRuns(options.limit)) {
    try {
      counts[await watch(deps, run)] += 1;
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) deps.logger.error('run not checked', { taskId: run.taskId, error: String(error) });
      counts.moved += 1;
    }
  }
  if (counts.resumed || counts.failed) deps.logger.warn('workflow runs whose execution ended unrecorded', counts);
  return counts;
};

const watch = async (deps: WatchRunsDeps, run: Task): Promise<WatchOutcome> => {
  const execution = run.execution!;
  const seen = await deps.workflows.status(execution.arn);
  const now = deps.clock.now().getTime();
  if (seen?.status === 'RUNNING') return 'running';
  if (!seen && now - Date.parse(run.updatedAt) < UNDESCRIBED_RUN_LOST_MS) return 'running';
  return retryOnConflict(async () => {
    const latest = await deps.tasks.get(run.tenantId, run.taskId);
    if (!latest || isTerminal(latest.status) || latest.execution?.arn !== execution.arn) return 'moved';
    const lost = !seen || seen.status === 'ABORTED';
    if (lost && execution.starts < MAX_RUN_STARTS) {
      const name = `${latest.taskId}-r${execution.starts}`;
      const { executionArn } = await deps.workflows.start(latest.workflow!, name, { run: { tenantId: latest.tenantId, taskId: latest.taskId }, input: latest.input });
      await startedExecution(deps, latest, executionArn);
      deps.logger.warn('workflow run resumed in a new execution', { taskId: latest.taskId, previous: execution.arn, executionArn, why: seen?.cause ?? 'execution not found' });
      return 'resumed';
    }
    const why = seen
      ? `its execution ended ${seen.status}${seen.error ? ` (${seen.error}${seen.cause ? `: ${seen.cause}` : ''})` : ''} without recording the run's end`
      : 'its execution was lost';
    await fail(deps, latest, { code: RUN_ERRORS.workflowFailed, message: `${why}${lost ? `, after ${execution.starts} executions` : ''}`.slice(0, 500) });
    return 'failed';
  });
};
