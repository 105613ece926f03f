import { randomBytes } from 'node:crypto';
import * as z from 'zod';
import type { WorkflowEngine } from '../workflow-ports';
import { answerParent } from './workflow-runs';
import { ConcurrencyError, InvalidTransitionError, NotFoundError } from '../errors';
import type { TaskServiceDeps } from '../ports';
import type { Principal } from '../principal';
import { CapabilitySchema, isClaimable, TaskIdSchema, type Task } from '../task';
import { claimPulled, completePulled, fail, failPulled, renewPulled, retryOnConflict, type LifecycleDeps } from '../task-lifecycle';

/**
 * External agents pull work over MCP: an MCP client with the `agent` role claims its tenant's
 * oldest claimable task of the capabilities it serves (a pull capability's task, queued, or running
 * with its lease run out), holds it with a lease it renews, and completes or fails it under that
 * lease. Every step is a transition of task-lifecycle.ts, conditional on the task's version: of two
 * agents claiming one task, exactly one wins, and the other moves on to the next.
 */
export interface PullOptions {
  /** How long a claim holds without a heartbeat. */
  leaseMs: number;
  /** Claims of a task before a silent or retrying agent's task fails for good. */
  maxAttempts: number;
  /** How often a long-polling claim asks again. */
  pollMs: number;
}

export const DEFAULT_PULL_OPTIONS: PullOptions = { leaseMs: 30_000, maxAttempts: 3, pollMs: 500 };

export type PullDeps = LifecycleDeps & Pick<TaskServiceDeps, 'pullCapabilities'> & {
  pull?: Partial<PullOptions>;
  /** Waits between the polls of a long-polling claim (tests pass one that returns at once). */
  sleep?: (ms: number) => Promise<void>;
  /** Answers the state machine of a run whose step was pulled (its token); absent: no workflows. */
  workflows?: WorkflowEngine;
};

const LeaseIdSchema = z.string().regex(/^lse_[A-Za-z0-9_-]{22}$/, 'not a lease id');

export const ClaimTaskInputSchema = z
  .object({
    capabilities: z.array(CapabilitySchema).min(1).max(20).describe('The pull capabilities you serve: you get a task of one of them.'),
    waitSeconds: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(0)
      .describe('Long poll: when nothing is claimable, keep asking (every 500 ms) for up to this many seconds. Default 0.'),
  })
  .strict();
export type ClaimTaskInput = z.input<typeof ClaimTaskInputSchema>;

export const HeartbeatTaskInputSchema = z
  .object({ taskId: TaskIdSchema, leaseId: LeaseIdSchema.describe('The leaseId claim_task gave you.') })
  .strict();
export type HeartbeatTaskInput = z.infer<typeof HeartbeatTaskInputSchema>;

export const CompleteTaskInputSchema = z
  .object({
    taskId: TaskIdSchema,
    leaseId: LeaseIdSchema.describe('The leaseId claim_task gave you.'),
    output: z.unknown().describe('The task\'s result (any JSON value); get_task shows it.'),
  })
  .strict();
export type CompleteTaskInput = z.infer<typeof CompleteTaskInputSchema>;

export const FailTaskInputSchema = z
  .object({
    taskId: TaskIdSchema,
    leaseId: LeaseIdSchema.describe('The leaseId claim_task gave you.'),
    error: z.object({ code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, 'UPPER_SNAKE_CASE'), message: z.string().max(1000) }).strict(),
    retryable: z.boolean().describe('true: another claim may try again (while attempts are left); false: the task fails with your code.'),
  })
  .strict();
export type FailTaskInput = z.infer<typeof FailTaskInputSchema>;

/** What a claim answers: the task under a lease, or none claimable. */
export type ClaimResult =
  | { taskId: string; capability: string; input: unknown; leaseId: string; leaseUntil: string; attempt: number }
  | { task: null };

const optionsOf = (deps: PullDeps): PullOptions => ({ ...DEFAULT_PULL_OPTIONS, ...deps.pull });
const newLeaseId = () => `lse_${randomBytes(16).toString('base64url')}`;
const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Query rounds within one poll: each lost race means another agent won a task, so this bounds only a storm. */
const MAX_ROUNDS = 10;
const CANDIDATES = 10;

/**
 * One poll: the oldest claimable candidates, each tried in turn. A candidate past its deadline, or
 * reassigned after its last attempt, fails instead (the worker would have failed it too). A lost
 * race moves on to the next; a round that lost every candidate queries again.
 */
const claimOnce = async (deps: PullDeps, principal: Principal, capabilities: readonly string[], options: PullOptions): Promise<Task | undefined> => {
  for (let round = 0; round < MAX_ROUNDS; round += 1) {
    const now = deps.clock.now();
    const candidates = await deps.tasks.listClaimable({ tenantId: principal.tenantId, capabilities, now, limit: CANDIDATES });
    if (candidates.length === 0) return undefined;
    for (const task of candidates) {
      try {
        if (task.deadline && Date.parse(task.deadline) <= now.getTime()) {
          await fail(deps, task, { code: 'DEADLINE_EXCEEDED', message: `deadline ${task.deadline} passed before the task ran` });
          continue;
        }
        if (task.attempts >= options.maxAttempts) {
          await fail(deps, task, { code: 'ATTEMPTS_EXHAUSTED', message: `no attempt finished in ${task.attempts} claims` });
          continue;
        }
        if (!isClaimable(task, now.getTime())) continue;
        return await claimPulled(deps, task, options.leaseMs, newLeaseId());
      } catch (error) {
        if (!(error instanceof ConcurrencyError) && !(error instanceof InvalidTransitionError)) throw error;
      }
    }
  }
  return undefined;
};

export const claimTask = async (deps: PullDeps, principal: Principal, input: ClaimTaskInput): Promise<ClaimResult> => {
  const request = ClaimTaskInputSchema.parse(input);
  const options = optionsOf(deps);
  const pullable = request.capabilities.filter((capability) => deps.pullCapabilities?.includes(capability));
  if (pullable.length === 0) {
    throw new InvalidTransitionError(
      `none of ${request.capabilities.join(', ')} is a pull capability; pull capabilities: ${deps.pullCapabilities?.join(', ') || '(none)'}`,
    );
  }
  const polls = Math.floor((request.waitSeconds * 1000) / options.pollMs);
  for (let poll = 0; ; poll += 1) {
    const claimed = await claimOnce(deps, principal, pullable, options);
    if (claimed) {
      return {
        taskId: claimed.taskId,
        capability: claimed.capability,
        input: claimed.input,
        leaseId: claimed.leaseId!,
        leaseUntil: claimed.leaseUntil!,
        attempt: claimed.attempts,
      };
    }
    if (poll >= polls) return { task: null };
    await (deps.sleep ?? sleepFor)(options.pollMs);
  }
};

/** Reads the caller's tenant's task under the caller's lease, or says it is not there. */
const leasedTask = async (deps: PullDeps, principal: Principal, taskId: string): Promise<Task> => {
  const task = await deps.tasks.get(principal.tenantId, taskId);
  if (!task) throw new NotFoundError(`task ${taskId} not found`);
  return task;
};

/** Races lost here are heartbeats of the same lease or writes of another: re-read and judge the lease again. */
const underLease = <T>(deps: PullDeps, principal: Principal, taskId: string, act: (task: Task) => Promise<T>): Promise<T> =>
  retryOnConflict(async () => act(await leasedTask(deps, principal, taskId)));

export const heartbeatTask = async (deps: PullDeps, principal: Principal, input: HeartbeatTaskInput) => {
  const { taskId, leaseId } = HeartbeatTaskInputSchema.parse(input);
  const renewed = await underLease(deps, principal, taskId, (task) => renewPulled(deps, task, leaseId, optionsOf(deps).leaseMs));
  return { taskId, leaseId, leaseUntil: renewed.leaseUntil! };
};

export const completeTask = async (deps: PullDeps, principal: Principal, input: CompleteTaskInput) => {
  const { taskId, leaseId, output } = CompleteTaskInputSchema.parse(input);
  const done = await underLease(deps, principal, taskId, (task) => completePulled(deps, task, leaseId, output ?? null));
  await answerParent(deps.workflows, done, deps.logger);
  return { taskId, status: done.status };
};

export const failTask = async (deps: PullDeps, principal: Principal, input: FailTaskInput) => {
  const { taskId, leaseId, error, retryable } = FailTaskInputSchema.parse(input);
  const { maxAttempts } = optionsOf(deps);
  const after = await underLease(deps, principal, taskId, (task) => failPulled(deps, task, leaseId, error, { retryable, maxAttempts }));
  await answerParent(deps.workflows, after, deps.logger);
  return { taskId, status: after.status };
};
