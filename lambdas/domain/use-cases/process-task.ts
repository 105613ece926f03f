import { ConcurrencyError } from '../errors';
import type { TaskServiceDeps } from '../ports';
import { isTerminal, type Task, type TaskError, type TaskMessage } from '../task';

export type ProcessTaskDeps = Omit<TaskServiceDeps, 'queue'>;

export interface ProcessTaskOptions {
  /** Attempts before a failing agent fails the task for good. */
  maxAttempts: number;
  /** How long a claim holds: the worker's timeout. A redelivery inside it is not run twice. */
  leaseMs: number;
}

/** `done`: delete the message. `retry`: leave it for redelivery after the visibility timeout. */
export type ProcessOutcome = 'done' | 'retry';

const MAX_RACES = 5;
const errorMessage = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).slice(0, 1000);

/**
 * Runs one delivery of a task message. Safe under at-least-once delivery: every state change
 * is a conditional write on the task's version, so a duplicate or late delivery never runs a
 * finished task again and never writes a second terminal state.
 */
export const processTask = async (
  deps: ProcessTaskDeps,
  message: TaskMessage,
  options: ProcessTaskOptions,
): Promise<ProcessOutcome> => {
  for (let race = 0; race < MAX_RACES; race += 1) {
    try {
      return await processOnce(deps, message, options);
    } catch (error) {
      if (!(error instanceof ConcurrencyError)) throw error;
    }
  }
  return 'retry';
};

const processOnce = async (
  deps: ProcessTaskDeps,
  message: TaskMessage,
  options: ProcessTaskOptions,
): Promise<ProcessOutcome> => {
  const log = { tenantId: message.tenantId, taskId: message.taskId };
  const task = await deps.tasks.get(message.tenantId, message.taskId);
  if (!task) {
    deps.logger.warn('message for a task that does not exist: dropped', log);
    return 'done';
  }
  if (isTerminal(task.status)) return 'done';
  const now = deps.clock.now();
  if (task.status === 'running' && task.leaseUntil && Date.parse(task.leaseUntil) > now.getTime()) {
    deps.logger.warn('task is leased by another delivery: retry later', log);
    return 'retry';
  }
  if (task.deadline && Date.parse(task.deadline) <= now.getTime()) {
    await fail(deps, task, { code: 'DEADLINE_EXCEEDED', message: `deadline ${task.deadline} passed before the task ran` });
    return 'done';
  }
  if (task.attempts >= options.maxAttempts) {
    await fail(deps, task, { code: 'ATTEMPTS_EXHAUSTED', message: `no attempt finished in ${task.attempts} tries` });
    return 'done';
  }
  const agent = deps.agents.get(task.capability);
  if (!agent) {
    await fail(deps, task, { code: 'UNKNOWN_CAPABILITY', message: `capability "${task.capability}" is not enabled` });
    return 'done';
  }

  const claimed = await deps.tasks.update(
    task,
    { status: 'running', attempts: task.attempts + 1, leaseUntil: new Date(now.getTime() + options.leaseMs).toISOString() },
    now,
  );
  deps.telemetry?.record('started', claimed);
  deps.logger.info('task running', { ...log, attempt: claimed.attempts });

  let outcome: { result: unknown } | { error: unknown };
  try {
    outcome = { result: await agent.run(claimed.input, { tenantId: task.tenantId, taskId: task.taskId, attempt: claimed.attempts }) };
  } catch (error) {
    outcome = { error };
  }

  try {
    if ('result' in outcome) {
      await deps.tasks.update(claimed, { status: 'succeeded', result: outcome.result ?? null, removeLease: true }, deps.clock.now());
      deps.telemetry?.record('succeeded', claimed);
      deps.logger.info('task succeeded', log);
      return 'done';
    }
    if (claimed.attempts >= options.maxAttempts) {
      await fail(deps, claimed, { code: 'AGENT_ERROR', message: errorMessage(outcome.error) });
      return 'done';
    }
    // Give the lease back so the redelivery may claim it at once.
    await deps.tasks.update(claimed, { leaseUntil: deps.clock.now().toISOString() }, deps.clock.now());
    deps.telemetry?.record('retried', claimed);
    deps.logger.warn('agent failed: will retry', { ...log, attempt: claimed.attempts, error: errorMessage(outcome.error) });
    return 'retry';
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    // The task changed while the agent ran (cancelled): the result is discarded, the terminal state stands.
    const latest = await deps.tasks.get(task.tenantId, task.taskId);
    if (latest && isTerminal(latest.status)) {
      deps.logger.info('task ended elsewhere while running; result discarded', { ...log, status: latest.status });
      return 'done';
    }
    throw error;
  }
};

/** Writes the failed terminal state, conditional on the task's version (ConcurrencyError if it moved). */
export const fail = async (
  deps: Pick<ProcessTaskDeps, 'tasks' | 'clock' | 'logger' | 'telemetry'>,
  task: Task,
  error: TaskError,
): Promise<void> => {
  await deps.tasks.update(task, { status: 'failed', error, removeLease: true }, deps.clock.now());
  deps.telemetry?.record('failed', task, error.code);
  deps.logger.warn('task failed', { tenantId: task.tenantId, taskId: task.taskId, code: error.code });
};
