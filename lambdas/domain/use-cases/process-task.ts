import { ConcurrencyError } from '../errors';
import type { TaskServiceDeps } from '../ports';
import { isTerminal, type Task, type TaskMessage } from '../task';
import { claim, extendLease, fail, leaseRemainingMs, offerForPull, release, retryOnConflict, startedExecution, succeed, type LifecycleDeps } from '../task-lifecycle';
import type { WorkflowEngine } from '../workflow-ports';

export type ProcessTaskDeps = Omit<TaskServiceDeps, 'queue'> & { workflows?: WorkflowEngine };

export interface ProcessTaskOptions {
  /** Attempts before a failing agent fails the task for good. */
  maxAttempts: number;
  /**
   * How long a claim holds without a heartbeat. While the agent runs, the lease is renewed every
   * third of it; a worker that dies frees its task at most this long after its last heartbeat.
   */
  leaseMs: number;
  /** Delay before a failed attempt runs again, per attempt already made (default 2 s). */
  retryDelayMs?: number;
}

/** `done`: delete the message. `retry`: let it come back after `afterMs`. */
export type ProcessOutcome = { kind: 'done' } | { kind: 'retry'; afterMs: number };

/** Come back a little after a held lease ends, so the redelivery does not meet it again. */
const LEASE_MARGIN_MS = 500;
const DONE: ProcessOutcome = { kind: 'done' };
const retryAfter = (afterMs: number): ProcessOutcome => ({ kind: 'retry', afterMs: Math.max(0, Math.ceil(afterMs)) });
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
  try {
    return await retryOnConflict(() => processOnce(deps, message, options));
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    return retryAfter(options.retryDelayMs ?? 2_000);
  }
};

const processOnce = async (deps: ProcessTaskDeps, message: TaskMessage, options: ProcessTaskOptions): Promise<ProcessOutcome> => {
  const log = { tenantId: message.tenantId, taskId: message.taskId };
  const task = await deps.tasks.get(message.tenantId, message.taskId);
  if (!task) {
    deps.logger.warn('message for a task that does not exist: dropped', log);
    return DONE;
  }
  if (isTerminal(task.status)) return DONE;
  // External agents claim a pulled task over MCP (claim_task); its message has nothing to run.
  if (task.pull) return DONE;
  if (task.status === 'queued' && task.workflow === undefined && deps.pullCapabilities?.includes(task.capability)) {
    await offerForPull(deps, task);
    return DONE;
  }
  // A run whose execution started is driven by its state machine: a repeat message has nothing to do.
  if (task.execution !== undefined || task.status === 'waiting_approval') return DONE;
  if (message.priority !== task.priority) {
    // The copy left in a lower queue by a promotion: the task's own message is in its new queue.
    deps.logger.info('message of a promoted task from its old queue: discarded', { ...log, messagePriority: message.priority, priority: task.priority });
    return DONE;
  }
  const now = deps.clock.now().getTime();
  const leased = leaseRemainingMs(task, now);
  if (leased > 0) {
    deps.logger.warn('task is leased by another delivery: retry when the lease ends', log);
    return retryAfter(leased + LEASE_MARGIN_MS);
  }
  if (task.deadline && Date.parse(task.deadline) <= now) {
    await fail(deps, task, { code: 'DEADLINE_EXCEEDED', message: `deadline ${task.deadline} passed before the task ran` });
    return DONE;
  }
  if (task.attempts >= options.maxAttempts) {
    await fail(deps, task, { code: 'ATTEMPTS_EXHAUSTED', message: `no attempt finished in ${task.attempts} tries` });
    return DONE;
  }
  if (task.workflow !== undefined) return startRun(deps, task, options);
  const agent = deps.agents.get(task.capability);
  if (!agent) {
    await fail(deps, task, { code: 'UNKNOWN_CAPABILITY', message: `capability "${task.capability}" is not enabled` });
    return DONE;
  }

  const claimed = await claim(deps, task, options.leaseMs);
  const heartbeat = startHeartbeat(deps, claimed, options.leaseMs);
  let outcome: { result: unknown } | { error: unknown };
  try {
    outcome = {
      result: await agent.run(claimed.input, {
        tenantId: task.tenantId,
        taskId: task.taskId,
        attempt: claimed.attempts,
        signal: heartbeat.signal,
      }),
    };
  } catch (error) {
    outcome = { error };
  }
  const current = await heartbeat.stop();

  try {
    if (!current) throw new ConcurrencyError('the task ended while the agent ran');
    if ('result' in outcome) {
      await succeed(deps, current, outcome.result);
      return DONE;
    }
    if (current.attempts >= options.maxAttempts) {
      await fail(deps, current, { code: 'AGENT_ERROR', message: errorMessage(outcome.error) });
      return DONE;
    }
    await release(deps, current, errorMessage(outcome.error));
    return retryAfter((options.retryDelayMs ?? 2_000) * current.attempts);
  } catch (error) {
    if (!(error instanceof ConcurrencyError)) throw error;
    // The task changed while the agent ran (cancelled): the result is discarded, the terminal state stands.
    const latest = await deps.tasks.get(task.tenantId, task.taskId);
    if (latest && isTerminal(latest.status)) {
      deps.logger.info('task ended elsewhere while running; result discarded', { ...log, status: latest.status });
      return DONE;
    }
    throw error;
  }
};

/**
 * A workflow run's turn in its queue: claim it, start its state machine execution (named after
 * the run, so a redelivery that starts it again gets the same execution), record the execution.
 * From then on the execution drives the run (its steps call the workflow function).
 */
const startRun = async (deps: ProcessTaskDeps, task: Task, options: ProcessTaskOptions): Promise<ProcessOutcome> => {
  if (!deps.workflows || !deps.workflows.workflows().includes(task.workflow!)) {
    await fail(deps, task, { code: 'UNKNOWN_WORKFLOW', message: `workflow "${task.workflow}" is not deployed` });
    return DONE;
  }
  const claimed = await claim(deps, task, options.leaseMs);
  try {
    const { executionArn } = await deps.workflows.start(claimed.workflow!, claimed.taskId, { run: { tenantId: claimed.tenantId, taskId: claimed.taskId }, input: claimed.input });
    await startedExecution(deps, claimed, executionArn);
    return DONE;
  } catch (error) {
    if (error instanceof ConcurrencyError) throw error;
    await release(deps, claimed, errorMessage(error));
    return retryAfter((options.retryDelayMs ?? 2_000) * claimed.attempts);
  }
};

/**
 * Renews the claim every third of the lease while the agent runs. When a renewal finds the task
 * changed (cancelled), it aborts the agent's signal and stops. `stop()` waits for a renewal in
 * flight and returns the task as last written, or undefined when the task moved on.
 */
const startHeartbeat = (deps: LifecycleDeps, claimed: Task, leaseMs: number) => {
  const controller = new AbortController();
  let current: Task | undefined = claimed;
  let beat: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beat = beat.then(async () => {
      if (!current) return;
      try {
        current = await extendLease(deps, current, leaseMs);
      } catch (error) {
        if (!(error instanceof ConcurrencyError)) {
          // A failed write is retried at the next beat; the lease still holds until then.
          deps.logger.warn('lease renewal failed: retrying at the next beat', { taskId: claimed.taskId, error: errorMessage(error) });
          return;
        }
        // Cancelled, or claimed by another delivery after this lease ran out: stop the agent.
        current = undefined;
        clearInterval(timer);
        controller.abort(new Error('the task ended or was claimed elsewhere while the agent ran'));
      }
    });
  }, Math.max(1, Math.floor(leaseMs / 3)));
  return {
    signal: controller.signal,
    stop: async (): Promise<Task | undefined> => {
      clearInterval(timer);
      await beat;
      return current;
    },
  };
};
